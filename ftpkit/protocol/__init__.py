"""
The wire protocol: Int32 frames, message types and error codes.

Nothing here knows about commands, users or files. See docs/protocol.md.

Public API for command authors: L{CommandError} and L{ErrorCode} only; the wire
format itself is specified in docs/protocol.md.
"""

from ftpkit.protocol.errors import CommandError, ErrorCode
from ftpkit.protocol.framing import FrameKind, FrameReceiver
from ftpkit.protocol.messages import (
    PROTOCOL_VERSION,
    CommandInfo,
    Continue,
    End,
    ErrorReply,
    Hello,
    Message,
    Request,
    Success,
    decode_message,
    encode_message,
)

__all__ = [
    "PROTOCOL_VERSION",
    "CommandError",
    "CommandInfo",
    "Continue",
    "End",
    "ErrorCode",
    "ErrorReply",
    "FrameKind",
    "FrameReceiver",
    "Hello",
    "Message",
    "Request",
    "Success",
    "decode_message",
    "encode_message",
]
