"""Publishing a kernel: only through the gate, only the exact approved commit, with its benchmark evidence."""
