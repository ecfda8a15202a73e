"""Uploading an assembled kernel repository to the Hugging Face Hub, when a token and network exist."""

from __future__ import annotations

import os
from pathlib import Path


def hub_token() -> str | None:
    for name in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN"):
        if os.environ.get(name):
            return os.environ[name]
    try:
        from huggingface_hub import get_token

        return get_token()
    except Exception:  # no huggingface_hub config: no token
        return None


def upload(folder: Path, repo_id: str, token: str, message: str) -> str:
    from huggingface_hub import HfApi

    api = HfApi(token=token)
    api.create_repo(repo_id, exist_ok=True)
    info = api.upload_folder(folder_path=str(folder), repo_id=repo_id, commit_message=message)
    return str(getattr(info, "commit_url", f"https://huggingface.co/{repo_id}"))
