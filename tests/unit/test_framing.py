"""FrameReceiver over an in-memory transport: reassembly, kinds, errors, flow control."""

from __future__ import annotations

import struct
from collections.abc import Callable

from hypothesis import given
from hypothesis import strategies as st
from twisted.internet.testing import StringTransport

from ftpkit.protocol.framing import FrameKind, FrameReceiver, encode_frame

Frame = tuple[FrameKind, bytes]
C, D = FrameKind.CONTROL, FrameKind.DATA


class Recorder(FrameReceiver):
    """Records frames and error hooks; C{on_frame} runs after each frame is recorded."""

    def __init__(self, max_length: int | None = None) -> None:
        super().__init__()
        if max_length is not None:
            self.MAX_LENGTH = max_length
        self.frames: list[Frame] = []
        self.pieces: list[bytes] = []  # of the data frame under way
        self.errors: list[str] = []
        self.too_long: list[int] = []
        self.on_frame: Callable[[Recorder, Frame], None] | None = None

    def _got(self, frame: Frame) -> None:
        self.frames.append(frame)
        if self.on_frame is not None:
            self.on_frame(self, frame)

    def controlReceived(self, body: bytes) -> None:
        self._got((C, body))

    def dataPieceReceived(self, piece: bytes | memoryview, last: bool) -> None:
        self.pieces.append(bytes(piece))
        if last:
            body, self.pieces = b"".join(self.pieces), []
            self._got((D, body))

    @property
    def partial(self) -> int:
        """Bytes of an unfinished data frame handed on already (they are not buffered)."""
        return sum(len(p) for p in self.pieces)

    def frameError(self, reason: str) -> None:
        self.errors.append(reason)

    def lengthLimitExceeded(self, length: int) -> None:
        self.too_long.append(length)


def connected(max_length: int | None = None) -> tuple[Recorder, StringTransport]:
    receiver, transport = Recorder(max_length), StringTransport()
    receiver.makeConnection(transport)
    return receiver, transport


def wire(*frames: Frame) -> bytes:
    return b"".join(encode_frame(kind, body) for kind, body in frames)


def split(data: bytes, cuts: list[int]) -> list[bytes]:
    """C{data} cut at the given offsets (any order, repeats allowed)."""
    edges = [0, *sorted(c % (len(data) + 1) for c in cuts), len(data)]
    return [data[a:b] for a, b in zip(edges, edges[1:], strict=False)]


def feed(receiver: FrameReceiver, chunks: list[bytes]) -> None:
    for chunk in chunks:
        receiver.dataReceived(chunk)


def header(length: int, kind: int) -> bytes:
    return struct.pack(">IB", length, kind)


frames_st = st.lists(st.tuples(st.sampled_from(FrameKind), st.binary(max_size=300)), max_size=12)
cuts_st = st.lists(st.integers(min_value=0), max_size=30)


# -- encoding ----------------------------------------------------------------


def test_encode_frame_layout() -> None:
    assert encode_frame(C, b"hi") == b"\x00\x00\x00\x03Chi"
    assert encode_frame(D, b"") == b"\x00\x00\x00\x01D"


def test_send_control_and_data_write_exactly_encode_frame() -> None:
    receiver, transport = connected()
    receiver.sendControl(b'{"type":"ok"}')
    assert transport.value() == encode_frame(C, b'{"type":"ok"}')
    transport.clear()
    receiver.sendData(b"\x00\xffraw")
    assert transport.value() == encode_frame(D, b"\x00\xffraw")
    transport.clear()
    receiver.sendData(b"")
    assert transport.value() == encode_frame(D, b"")


@given(frames_st)
def test_sent_frames_are_received_back(frames: list[Frame]) -> None:
    sender, transport = connected()
    for kind, body in frames:
        (sender.sendControl if kind is C else sender.sendData)(body)
    receiver, _ = connected()
    receiver.dataReceived(transport.value())
    assert receiver.frames == frames


# -- reassembly --------------------------------------------------------------


@given(frames_st, cuts_st)
def test_any_chunking_delivers_the_same_frames_in_order(frames: list[Frame],
                                                        cuts: list[int]) -> None:
    receiver, _ = connected()
    feed(receiver, split(wire(*frames), cuts))
    assert receiver.frames == frames
    assert [type(k) for k, _ in receiver.frames] == [FrameKind] * len(frames)
    assert receiver.errors == receiver.too_long == []
    assert receiver.bufferedBytes == 0


def test_byte_by_byte_delivery_waits_for_the_whole_frame() -> None:
    receiver, _ = connected()
    data = wire((C, b"abc"))
    for i, byte in enumerate(data):
        assert receiver.frames == []
        assert receiver.bufferedBytes == i
        receiver.dataReceived(bytes([byte]))
    assert receiver.frames == [(C, b"abc")]


def test_kinds_are_kept_apart() -> None:
    receiver, _ = connected()
    receiver.dataReceived(wire((C, b"x"), (D, b"x"), (D, b""), (C, b"")))
    assert receiver.frames == [(C, b"x"), (D, b"x"), (D, b""), (C, b"")]


def test_large_frame_is_reassembled_from_small_reads() -> None:
    body = bytes(range(256)) * (8 * 1024 * 1024 // 256)
    receiver, _ = connected(max_length=9 * 1024 * 1024)
    data = wire((D, body), (C, b"after"))
    step = 64 * 1024
    for start in range(0, len(data), step):
        assert receiver.frames == []
        receiver.dataReceived(data[start:start + step])
    assert len(receiver.frames) == 2
    assert receiver.frames[0][0] is D and receiver.frames[0][1] == body
    assert receiver.frames[1] == (C, b"after")
    assert receiver.bufferedBytes == 0


# -- malformed input ---------------------------------------------------------


def test_unknown_kind_is_a_frame_error_and_stops_delivery() -> None:
    receiver, _ = connected()
    receiver.dataReceived(wire((C, b"one")) + header(2, 0x58) + b"?" + wire((C, b"two")))
    assert receiver.frames == [(C, b"one")]
    assert receiver.errors == ["unknown frame kind 0x58"]
    assert receiver.framesStopped and receiver.bufferedBytes == 0
    receiver.dataReceived(wire((C, b"three")))
    assert receiver.frames == [(C, b"one")]
    assert len(receiver.errors) == 1 and receiver.bufferedBytes == 0


def test_empty_frame_is_a_frame_error() -> None:
    receiver, _ = connected()
    receiver.dataReceived(struct.pack(">I", 0) + wire((C, b"next")))
    assert receiver.frames == []
    assert len(receiver.errors) == 1 and "empty frame" in receiver.errors[0]
    assert receiver.framesStopped and receiver.bufferedBytes == 0


def test_over_long_prefix_is_refused_before_the_body_arrives() -> None:
    receiver, _ = connected(max_length=100)
    receiver.dataReceived(wire((C, b"ok")) + header(101, C))
    assert receiver.frames == [(C, b"ok")]
    assert receiver.too_long == [101]
    assert receiver.errors == []
    assert receiver.framesStopped and receiver.bufferedBytes == 0
    receiver.dataReceived(b"x" * 100 + wire((C, b"more")))
    assert receiver.too_long == [101]
    assert receiver.frames == [(C, b"ok")]


def test_max_length_itself_is_accepted() -> None:
    receiver, _ = connected(max_length=100)
    receiver.dataReceived(wire((D, b"x" * 99)))
    assert receiver.frames == [(D, b"x" * 99)]
    assert receiver.too_long == []


def test_default_hooks_close_the_connection() -> None:
    for data in (header(2, 0x00) + b"?", struct.pack(">I", FrameReceiver.MAX_LENGTH + 1)):
        receiver, transport = FrameReceiver(), StringTransport()
        receiver.makeConnection(transport)
        receiver.dataReceived(data)
        assert transport.disconnecting


def reference_parse(data: bytes, max_length: int) -> tuple[list[Frame], str | None, int]:
    """What the wire format says C{data} holds: frames, the error if any, bytes left over."""
    frames: list[Frame] = []
    pos = 0
    while len(data) - pos >= 4:
        (length,) = struct.unpack_from(">I", data, pos)
        if length > max_length:
            return frames, "too long", 0
        if len(data) - pos - 4 < length:
            break
        if length == 0 or data[pos + 4] not in (C, D):
            return frames, "bad frame", 0
        frames.append((FrameKind(data[pos + 4]), data[pos + 5:pos + 4 + length]))
        pos += 4 + length
    return frames, None, len(data) - pos


any_frame_st = st.builds(lambda kind, body: header(len(body) + 1, kind) + body,
                         st.integers(0, 255), st.binary(max_size=40))
garbage_st = st.lists(st.one_of(st.binary(max_size=12), any_frame_st), max_size=10).map(
    b"".join)


@given(garbage_st, cuts_st)
def test_garbage_never_raises_and_ends_in_frames_or_one_error(data: bytes,
                                                             cuts: list[int]) -> None:
    receiver, _ = connected(max_length=32)
    feed(receiver, split(data, cuts))
    frames, error, left = reference_parse(data, 32)
    assert receiver.frames == frames
    assert (len(receiver.errors), len(receiver.too_long)) == {
        None: (0, 0), "bad frame": (1, 0), "too long": (0, 1)}[error]
    assert receiver.framesStopped == (error is not None)
    assert receiver.bufferedBytes + (0 if error else receiver.partial) == left


# -- flow control ------------------------------------------------------------


def pause_after(count: int) -> Callable[[Recorder, Frame], None]:
    def on_frame(receiver: Recorder, frame: Frame) -> None:
        if len(receiver.frames) == count:
            receiver.pauseFrames()
    return on_frame


def test_pause_stops_delivery_and_reading_and_resume_delivers_the_rest() -> None:
    receiver, transport = connected()
    receiver.on_frame = pause_after(1)
    rest = wire((D, b"2"), (C, b"3"))
    receiver.dataReceived(wire((C, b"1")) + rest)
    assert receiver.frames == [(C, b"1")]
    assert transport.producerState == "paused"
    assert receiver.bufferedBytes == len(rest)

    receiver.dataReceived(wire((C, b"4")))  # arrives while paused: buffered only
    assert receiver.frames == [(C, b"1")]

    receiver.resumeFrames()
    assert transport.producerState == "producing"
    assert receiver.frames == [(C, b"1"), (D, b"2"), (C, b"3"), (C, b"4")]
    assert receiver.bufferedBytes == 0


def test_pause_from_outside_a_callback() -> None:
    receiver, transport = connected()
    receiver.pauseFrames()
    receiver.pauseFrames()
    assert transport.producerState == "paused"
    receiver.dataReceived(wire((C, b"1")))
    assert receiver.frames == []
    receiver.resumeFrames()
    assert receiver.frames == [(C, b"1")]
    receiver.resumeFrames()  # not paused: nothing happens
    assert transport.producerState == "producing"


def test_resume_called_inside_the_callback_that_paused() -> None:
    receiver, transport = connected()

    def on_frame(r: Recorder, frame: Frame) -> None:
        r.pauseFrames()
        r.resumeFrames()

    receiver.on_frame = on_frame
    receiver.dataReceived(wire((C, b"1"), (C, b"2"), (D, b"3")))
    assert receiver.frames == [(C, b"1"), (C, b"2"), (D, b"3")]
    assert transport.producerState == "producing"
    assert receiver.bufferedBytes == 0


def test_resume_from_outside_then_re_entrant_pause_and_resume() -> None:
    receiver, _ = connected()
    receiver.on_frame = pause_after(1)
    receiver.dataReceived(wire((C, b"1"), (C, b"2"), (C, b"3"), (C, b"4")))
    assert receiver.frames == [(C, b"1")]

    def on_frame(r: Recorder, frame: Frame) -> None:
        if frame == (C, b"2"):
            r.pauseFrames()
            r.resumeFrames()
        elif frame == (C, b"3"):
            r.pauseFrames()

    receiver.on_frame = on_frame
    receiver.resumeFrames()
    assert receiver.frames == [(C, b"1"), (C, b"2"), (C, b"3")]
    receiver.on_frame = None
    receiver.resumeFrames()
    assert receiver.frames == [(C, b"1"), (C, b"2"), (C, b"3"), (C, b"4")]


def test_data_received_from_inside_a_callback_is_delivered_after_the_current_frame() -> None:
    receiver, _ = connected()

    def on_frame(r: Recorder, frame: Frame) -> None:
        if frame == (C, b"1"):
            r.dataReceived(wire((C, b"3")))

    receiver.on_frame = on_frame
    receiver.dataReceived(wire((C, b"1"), (C, b"2")))
    assert receiver.frames == [(C, b"1"), (C, b"2"), (C, b"3")]


def test_stop_drops_buffered_frames() -> None:
    receiver, transport = connected()
    receiver.on_frame = pause_after(1)
    receiver.dataReceived(wire((C, b"1"), (C, b"2")) + b"\x00\x00")
    receiver.stopFrames()
    assert receiver.framesStopped and receiver.bufferedBytes == 0
    receiver.resumeFrames()
    receiver.dataReceived(wire((C, b"3")))
    assert receiver.frames == [(C, b"1")]
    assert transport.producerState == "paused"  # a stopped receiver does not read again


def test_stop_inside_a_callback_drops_the_rest_of_the_read() -> None:
    receiver, _ = connected()
    receiver.on_frame = lambda r, frame: r.stopFrames()
    receiver.dataReceived(wire((C, b"1"), (C, b"2")))
    assert receiver.frames == [(C, b"1")]
    assert receiver.bufferedBytes == 0


def test_pause_and_resume_without_a_transport() -> None:
    receiver = Recorder()
    receiver.pauseFrames()
    receiver.dataReceived(wire((C, b"1")))
    assert receiver.frames == []
    receiver.resumeFrames()
    assert receiver.frames == [(C, b"1")]


def test_reading_is_lent_at_once_when_nothing_is_buffered() -> None:
    receiver, transport = connected()
    lent: list[bool] = []
    receiver.lendReading(lambda: lent.append(True))
    assert lent == [True] and transport.producerState == "paused"
    receiver.pauseFrames()
    receiver.resumeFrames()  # frames resume, but the transport stays with the borrower
    assert transport.producerState == "paused"
    receiver.reclaimReading(b"", 0)
    assert transport.producerState == "producing"


def test_reading_is_lent_once_what_is_buffered_has_been_delivered() -> None:
    receiver, transport = connected()
    lent: list[int] = []
    receiver.pauseFrames()
    receiver.dataReceived(wire((C, b"one"), (D, b"ab")) + header(10, D) + b"xyz")
    receiver.lendReading(lambda: lent.append(receiver.dataFrameRemaining))
    assert lent == []  # two frames and a piece still wait
    receiver.resumeFrames()
    assert receiver.frames == [(C, b"one"), (D, b"ab")] and receiver.pieces == [b"xyz"]
    assert lent == [6] and transport.producerState == "paused"
    receiver.reclaimReading(b"uvw" + encode_frame(C, b"two"), 3)
    assert receiver.frames[2:] == [(D, b"xyzuvw"), (C, b"two")]


def test_a_lend_not_carried_out_can_be_cancelled_and_stopping_cancels_it() -> None:
    receiver, _ = connected()
    lent: list[bool] = []
    receiver.pauseFrames()
    receiver.dataReceived(encode_frame(C, b"x"))
    receiver.lendReading(lambda: lent.append(True))
    receiver.cancelLend()
    receiver.resumeFrames()
    assert lent == []
    receiver.stopFrames()
    receiver.lendReading(lambda: lent.append(True))
    assert lent == []
