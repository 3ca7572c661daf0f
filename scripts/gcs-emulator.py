#!/usr/bin/env python3
"""Starts gcp-storage-emulator in memory, without two artefacts that would read as the client's slowness.

1. It re-serialises the metadata of every object after each write (even in memory), so N uploads cost O(N^2)
   server time. In memory the snapshot is never read back, so skipping it changes nothing else.
2. It serves from a single-threaded http.server with the default listen backlog of 5: a client with more
   connections in flight gets SYNs dropped and waits out 1 s TCP retransmits. A deeper backlog only queues them.

And adds what real GCS does and the emulator does not: in a bucket with object versioning on
(`{"versioning": {"enabled": true}}`), an overwritten or deleted object's generation stays readable by
`?generation=G` (metadata and media); without versioning such a read is a 404, as on GCS. dagship's rollback
restores from these generations when the commit is gone (src/deploy/restore.rs).

Arguments are the emulator's own (`start --in-memory ...`).
"""
import socketserver
import sys

from http import HTTPStatus

from gcp_storage_emulator import server
from gcp_storage_emulator.__main__ import main
from gcp_storage_emulator.exceptions import NotFound
from gcp_storage_emulator.handlers import objects
from gcp_storage_emulator.storage import Storage

Storage._write_config_to_file = lambda self: None
socketserver.TCPServer.request_queue_size = 1024

# (bucket, name, generation) -> (object resource, bytes) of noncurrent generations in versioned buckets.
NONCURRENT = {}


def _keep_noncurrent(storage, bucket_name, file_name):
    versioning = (storage.buckets.get(bucket_name) or {}).get("versioning") or {}
    live = storage.objects.get(bucket_name, {}).get(file_name)
    if versioning.get("enabled") and live is not None:
        content = storage.get_file(bucket_name, file_name, show_error=False)
        NONCURRENT[(bucket_name, file_name, str(live.get("generation")))] = (dict(live), content)


def _keeping(original):
    def wrapped(self, bucket_name, file_name, *args, **kwargs):
        try:
            _keep_noncurrent(self, bucket_name, file_name)
        except NotFound:
            pass
        return original(self, bucket_name, file_name, *args, **kwargs)

    return wrapped


Storage.create_file = _keeping(Storage.create_file)
Storage.delete_file = _keeping(Storage.delete_file)


def _by_generation(original, media):
    """Serves `?generation=G` of a noncurrent generation; a generation neither live nor kept is a 404."""

    def handler(request, response, storage, *args, **kwargs):
        wanted = (request.query.get("generation") or [None])[0]
        if wanted is None or (request.query.get("softDeleted") or [""])[0].lower() in ("1", "true", "yes"):
            return original(request, response, storage, *args, **kwargs)
        bucket_name, object_id = request.params["bucket_name"], request.params["object_id"]
        live = storage.objects.get(bucket_name, {}).get(object_id)
        if live is not None and str(live.get("generation")) == str(wanted):
            return original(request, response, storage, *args, **kwargs)
        kept = NONCURRENT.get((bucket_name, object_id, str(wanted)))
        if kept is None:
            response.status = HTTPStatus.NOT_FOUND
            return None
        resource, content = kept
        if media or (request.query.get("alt") or [""])[0] == "media":
            response["x-goog-hash"] = "crc32c={},md5={}".format(resource["crc32c"], resource["md5Hash"])
            response.write_file(content, content_type=resource.get("contentType"))
        else:
            response.json(resource)
        return None

    return handler


_WRAPPED = {objects.download: _by_generation(objects.download, True), objects.get: _by_generation(objects.get, False)}
server.HANDLERS = tuple(
    (regex, {method: _WRAPPED.get(handler, handler) for method, handler in handlers.items()})
    for regex, handlers in server.HANDLERS
)

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
