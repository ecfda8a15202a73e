"""The scripted model server itself, through the real SDKs: every protocol it speaks."""

from __future__ import annotations

import urllib.request

import anthropic
import openai

from helpers.model_server import ModelServer, Reply


def test_rules_order_and_default() -> None:
    with ModelServer(
        [Reply(text="for b", match="bravo"), Reply(text="first"), Reply(text="second")], default=Reply(text="fallback")
    ) as srv:
        client = anthropic.Anthropic(api_key="k", base_url=srv.url, max_retries=0)

        def ask(text: str):
            return client.messages.create(model="m", max_tokens=5, messages=[{"role": "user", "content": text}])

        answers = [ask(q).content[0].text for q in ("alpha", "bravo", "charlie", "delta")]
        assert answers == ["first", "for b", "second", "fallback"]
        assert [r.last_user for r in srv.requests] == ["alpha", "bravo", "charlie", "delta"]
        head = urllib.request.urlopen(urllib.request.Request(srv.url + "/", method="HEAD"))
        assert head.status == 200


def test_anthropic_non_streaming_tool_use_and_usage() -> None:
    with ModelServer(
        [
            Reply(
                text="calling",
                tool_calls=[("read_file", {"path": "a"})],
                input_tokens=7,
                output_tokens=3,
                cached_tokens=2,
            )
        ]
    ) as srv:
        client = anthropic.Anthropic(api_key="k", base_url=srv.url, max_retries=0)
        msg = client.messages.create(model="m", max_tokens=5, messages=[{"role": "user", "content": "x"}])
        assert [b.type for b in msg.content] == ["text", "tool_use"] and msg.stop_reason == "tool_use"
        assert msg.content[1].input == {"path": "a"}
        assert (msg.usage.input_tokens, msg.usage.output_tokens, msg.usage.cache_read_input_tokens) == (7, 3, 2)


def test_openai_responses_streaming() -> None:
    with ModelServer([Reply(text="hello", tool_calls=[("exec_command", {"cmd": "ls"})], cached_tokens=5)]) as srv:
        client = openai.OpenAI(api_key="k", base_url=srv.url + "/v1", max_retries=0)
        kinds, final = [], None
        with client.responses.stream(model="gpt-5.5", input="hi") as stream:
            for event in stream:
                kinds.append(event.type)
            final = stream.get_final_response()
        assert kinds[0] == "response.created" and kinds[-1] == "response.completed"
        assert "response.output_text.delta" in kinds
        assert final.output_text == "hello"
        call = [o for o in final.output if o.type == "function_call"][0]
        assert call.name == "exec_command" and call.arguments == '{"cmd": "ls"}'
        assert final.usage.input_tokens == 105 and final.usage.input_tokens_details.cached_tokens == 5


def test_scripted_api_error() -> None:
    with ModelServer([Reply(status=529, text="overloaded")]) as srv:
        client = openai.OpenAI(api_key="k", base_url=srv.url + "/v1", max_retries=0)
        try:
            client.chat.completions.create(model="m", messages=[{"role": "user", "content": "x"}])
        except openai.APIStatusError as exc:
            assert exc.status_code == 529 and "overloaded" in str(exc)
        else:
            raise AssertionError("expected an API error")
