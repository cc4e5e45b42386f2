"""MaskCheck follows a client's frames however the byte stream is cut into chunks, and
stops exactly at the first unmasked frame."""

from __future__ import annotations

import itertools
import struct

from hypothesis import given
from hypothesis import strategies as st

from realtime.masking import MaskCheck


def frame(payload_len: int, *, masked: bool) -> bytes:
    head = b"\x81"
    bit = 0x80 if masked else 0
    if payload_len < 126:
        head += bytes([bit | payload_len])
    elif payload_len < 1 << 16:
        head += bytes([bit | 126]) + struct.pack("!H", payload_len)
    else:
        head += bytes([bit | 127]) + struct.pack("!Q", payload_len)
    return head + (b"\x01\x02\x03\x04" if masked else b"") + b"x" * payload_len


sizes = st.lists(st.sampled_from([0, 1, 125, 126, 127, 300, 65535, 65536, 70000]),
                 max_size=6)


def feed_in_chunks(data: bytes, cuts: list[int]) -> tuple[MaskCheck, int]:
    """Feed ``data`` cut at ``cuts``; return the check and the bytes it let through."""
    check = MaskCheck()
    passed = 0
    points = sorted({c % (len(data) + 1) for c in cuts} | {0, len(data)})
    for start, end in itertools.pairwise(points):
        chunk = data[start:end]
        ok = check.feed(chunk)
        passed += ok
        if ok < len(chunk):
            break
    return check, passed


@given(sizes, st.lists(st.integers(min_value=0), max_size=20))
def test_masked_frames_pass_whole_however_they_are_cut(lengths: list[int],
                                                       cuts: list[int]) -> None:
    data = b"".join(frame(n, masked=True) for n in lengths)
    check, passed = feed_in_chunks(data, cuts)
    assert not check.failed
    assert passed == len(data)


@given(sizes, sizes, st.lists(st.integers(min_value=0), max_size=20))
def test_nothing_from_the_first_unmasked_frame_on_passes(before: list[int], after: list[int],
                                                         cuts: list[int]) -> None:
    good = b"".join(frame(n, masked=True) for n in before)
    data = good + frame(5, masked=False) + b"".join(frame(n, masked=True) for n in after)
    check, passed = feed_in_chunks(data, cuts)
    assert check.failed
    # Everything before the bad frame passes; of the bad frame, at most the first header
    # byte, when a chunk ended right after it (the reader then sees the stream end).
    assert len(good) <= passed <= len(good) + 1
