"""The OCR worker pool's consumer group: one ``RecognisePage`` per message, retried and dead-lettered by the kit."""

from __future__ import annotations

from reader.service_layer.ocr import PageRecognition
from sachso.events.v1 import ocr_requests_pb2
from sachso.kit.consumer import HandlerRegistry
from sachso.kit.topics import OCR_REQUESTS

OCR_GROUP = "reader-ocr"


def ocr_consumers(recognition: PageRecognition) -> HandlerRegistry:
    registry = HandlerRegistry(OCR_GROUP, [OCR_REQUESTS.name])
    registry.register(ocr_requests_pb2.RecognisePage, recognition.record, prepare=recognition.prepare)
    return registry
