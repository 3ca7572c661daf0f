#!/usr/bin/env python3
"""Starts gcp-storage-emulator in memory, without two artefacts that would read as the client's slowness.

1. It re-serialises the metadata of every object after each write (even in memory), so N uploads cost O(N^2)
   server time. In memory the snapshot is never read back, so skipping it changes nothing else.
2. It serves from a single-threaded http.server with the default listen backlog of 5: a client with more
   connections in flight gets SYNs dropped and waits out 1 s TCP retransmits. A deeper backlog only queues them.

Arguments are the emulator's own (`start --in-memory ...`).
"""
import socketserver
import sys

from gcp_storage_emulator.__main__ import main
from gcp_storage_emulator.storage import Storage

Storage._write_config_to_file = lambda self: None
socketserver.TCPServer.request_queue_size = 1024

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
