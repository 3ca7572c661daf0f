#!/usr/bin/env python3
"""Starts gcp-storage-emulator in memory without its per-write metadata snapshot.

The emulator re-serialises the metadata of every object after each write (even in memory), so N uploads
cost O(N^2) server time and its slowness would read as the client's. In memory the snapshot is never read
back, so skipping it changes nothing else. Arguments are the emulator's own (`start --in-memory ...`).
"""
import sys

from gcp_storage_emulator.__main__ import main
from gcp_storage_emulator.storage import Storage

Storage._write_config_to_file = lambda self: None

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
