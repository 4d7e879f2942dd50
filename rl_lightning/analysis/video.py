"""An episode's frames as files: GIF, MP4, a TensorBoard video summary, or a text file for ANSI frames.

Frames come from an episode dict's ``frames``: ``rgb_array`` frames are ``[height, width, 3]`` uint8
arrays (one at reset, then one per step), ``ansi`` frames are strings. Writers:

- GIF: every frame encoded by Pillow with its own palette, then joined, so the GIF holds exactly one
  image per frame (Pillow's own animated-GIF writer merges identical consecutive frames).
- MP4: imageio with imageio-ffmpeg (H.264, yuv420p). Odd widths or heights are padded by one edge pixel,
  as H.264 needs even sizes.
- TensorBoard: the same summary ``SummaryWriter.add_video`` writes (an animated GIF in an image summary,
  shown under IMAGES), encoded here with Pillow, so moviepy is not needed.
- ANSI: a text file, each frame under a ``--- step {i} ---`` header (step 0 is the reset).

Pillow, imageio and imageio-ffmpeg are imported when a file is written, so ``import rl_lightning`` works
without them.
"""

from __future__ import annotations

import io
import os
import struct
from typing import Any, Optional, Sequence

import numpy as np

__all__ = ["VIDEO_FORMATS", "save_gif", "save_mp4", "save_ansi", "write_video_summary", "save_video", "VideoRecorder"]

#: Formats :func:`save_video` writes for image frames (``"tensorboard"``: an event file in the folder).
VIDEO_FORMATS = ("gif", "mp4", "tensorboard")


def _rgb_frames(frames: Sequence[Any]) -> np.ndarray:
    """``[T, H, W, 3]`` uint8 from a sequence of ``[H, W]``, ``[H, W, 3]`` or ``[H, W, 4]`` images."""
    if len(frames) == 0:
        raise ValueError("no frames to write: the episode recorded none (was the env built with "
                         "render_mode='rgb_array'?).")
    if isinstance(frames[0], str):
        raise TypeError("these frames are text (render_mode='ansi'); write them with save_ansi.")
    array = np.asarray(frames)
    if array.ndim == 3:
        array = np.repeat(array[..., None], 3, axis=-1)
    if array.ndim != 4 or array.shape[-1] not in (3, 4):
        raise ValueError(f"frames must be images of shape [height, width, 3]; got an array of shape {array.shape}.")
    array = array[..., :3]
    if array.dtype != np.uint8:
        if np.issubdtype(array.dtype, np.floating) and array.size and array.max() <= 1.0:
            array = array * 255.0
        array = np.clip(np.round(array), 0, 255).astype(np.uint8)
    return array


def _pil() -> Any:
    try:
        from PIL import Image
    except ImportError as err:
        raise ImportError("GIFs need Pillow: pip install pillow (or the rl_lightning[analysis] extra).") from err
    return Image


def _gif_image_block(gif: bytes) -> bytes:
    """The image of a one-frame GIF as a self-contained block: descriptor, its colour table made local, data."""
    flags = gif[10]
    pos = 13
    table = b""
    if flags & 0x80:  # a global colour table: it becomes the frame's local one
        size = 3 * 2 ** ((flags & 0x07) + 1)
        table, pos = gif[pos:pos + size], pos + size
    while gif[pos] == 0x21:  # skip extensions: introducer, label, then data sub-blocks up to a zero length
        pos += 2
        while gif[pos]:
            pos += gif[pos] + 1
        pos += 1
    descriptor = bytearray(gif[pos:pos + 10])
    pos += 10
    if descriptor[9] & 0x80:  # already a local colour table
        size = 3 * 2 ** ((descriptor[9] & 0x07) + 1)
        table, pos = gif[pos:pos + size], pos + size
    else:
        descriptor[9] |= 0x80 | (flags & 0x07)
    start = pos
    pos += 1  # LZW minimum code size, then data sub-blocks up to a zero length
    while gif[pos]:
        pos += gif[pos] + 1
    return bytes(descriptor) + table + gif[start:pos + 1]


def _gif_bytes(frames: np.ndarray, fps: float, loop: int) -> bytes:
    """An animated GIF holding every frame, each with its own palette.

    Pillow's animated-GIF writer merges a frame identical to the one before it into one longer frame, so a
    GIF would hold fewer frames than the episode; here each frame is encoded alone by Pillow and the images
    are joined, one Graphic Control Extension (the delay) each.
    """
    image = _pil()
    delay = max(1, round(100.0 / fps))  # GIF delays are in hundredths of a second
    height, width = frames.shape[1:3]
    out = [b"GIF89a", struct.pack("<HHBBB", width, height, 0, 0, 0),
           b"!\xff\x0bNETSCAPE2.0\x03\x01" + struct.pack("<H", loop) + b"\x00"]
    for frame in frames:
        buffer = io.BytesIO()
        image.fromarray(frame).convert("P", palette=image.Palette.ADAPTIVE, colors=256).save(buffer, format="GIF")
        out.append(b"!\xf9\x04\x04" + struct.pack("<H", delay) + b"\x00\x00")  # disposal 1: keep, no transparency
        out.append(_gif_image_block(buffer.getvalue()))
    out.append(b";")
    return b"".join(out)


def _check_fps(fps: float) -> None:
    if isinstance(fps, bool) or not isinstance(fps, (int, float)) or fps <= 0:
        raise ValueError(f"fps must be a positive number of frames per second, got {fps!r}.")


def save_gif(frames: Sequence[Any], path: str | os.PathLike, fps: float = 30, loop: int = 0) -> str:
    """Write ``frames`` as an animated GIF at ``fps`` frames per second (``loop=0``: loop forever)."""
    _check_fps(fps)
    data = _gif_bytes(_rgb_frames(frames), fps, loop)
    path = os.fspath(path)
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)
    return path


def save_mp4(frames: Sequence[Any], path: str | os.PathLike, fps: float = 30) -> str:
    """Write ``frames`` as an H.264 MP4 at ``fps`` frames per second (needs imageio and imageio-ffmpeg)."""
    _check_fps(fps)
    array = _rgb_frames(frames)
    try:
        import imageio.v2 as imageio
        import imageio_ffmpeg  # noqa: F401 - imageio's FFMPEG plugin needs it; fail here with the remedy
    except ImportError as err:
        raise ImportError("MP4 videos need imageio and imageio-ffmpeg: pip install imageio imageio-ffmpeg "
                          "(or the rl_lightning[analysis] extra).") from err
    pad_h, pad_w = array.shape[1] % 2, array.shape[2] % 2
    if pad_h or pad_w:
        array = np.pad(array, ((0, 0), (0, pad_h), (0, pad_w), (0, 0)), mode="edge")
    path = os.fspath(path)
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    with imageio.get_writer(path, format="FFMPEG", mode="I", fps=fps, codec="libx264", pixelformat="yuv420p",
                            macro_block_size=2, ffmpeg_log_level="error") as writer:
        for frame in array:
            writer.append_data(frame)
    return path


def _text(frame: Any) -> str:
    if isinstance(frame, str):
        return frame
    if hasattr(frame, "getvalue"):  # some toy-text envs render into a StringIO
        return frame.getvalue()
    raise TypeError(f"ANSI frames must be strings, got {type(frame).__name__}.")


def save_ansi(frames: Sequence[Any], path: str | os.PathLike) -> str:
    """Write ANSI (text) frames to a text file, each as ``--- step {i} ---`` then the frame's text."""
    if len(frames) == 0:
        raise ValueError("no frames to write: the episode recorded none (was the env built with render_mode='ansi'?).")
    blocks = [f"--- step {i} ---\n{_text(frame).rstrip(chr(10))}\n" for i, frame in enumerate(frames)]
    path = os.fspath(path)
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        f.write("".join(blocks))
    return path


def write_video_summary(writer: Any, tag: str, frames: Sequence[Any], step: int = 0, fps: float = 30) -> None:
    """Add ``frames`` to TensorBoard as a video summary (what ``SummaryWriter.add_video`` writes), without moviepy.

    Args:
        writer: a ``torch.utils.tensorboard.SummaryWriter``, or a log folder (a writer is opened and closed).
        tag: the summary's name, e.g. ``"eval/video"``.
        frames: ``rgb_array`` frames.
        step: the x-axis value (e.g. env steps).
        fps: frames per second.
    """
    _check_fps(fps)
    array = _rgb_frames(frames)
    from tensorboard.compat.proto.summary_pb2 import Summary
    from torch.utils.tensorboard import SummaryWriter

    image = Summary.Image(height=array.shape[1], width=array.shape[2], colorspace=3,
                          encoded_image_string=_gif_bytes(array, fps, loop=0))
    summary = Summary(value=[Summary.Value(tag=tag, image=image)])
    own = not isinstance(writer, SummaryWriter)
    summary_writer = SummaryWriter(log_dir=os.fspath(writer)) if own else writer
    try:
        # add_video itself does this with a moviepy-encoded GIF; SummaryWriter has no public call for a ready summary.
        summary_writer._get_file_writer().add_summary(summary, int(step))
    finally:
        if own:
            summary_writer.close()


def save_video(frames: Sequence[Any], path_stem: str | os.PathLike, formats: Sequence[str] = ("gif",),
               fps: float = 30, *, tb_writer: Any = None, tag: Optional[str] = None, step: int = 0) -> list:
    """Write an episode's frames in every format asked for; return the paths written.

    Text frames (``render_mode="ansi"``) always go to ``path_stem + ".txt"``, whatever ``formats`` says.
    Image frames go to ``path_stem + ".gif"`` / ``".mp4"``; ``"tensorboard"`` adds a video summary named ``tag``
    (default: the stem's file name) at ``step`` through ``tb_writer``, or, without one, to a new event file in
    the stem's folder (whose path is returned).

    Raises:
        ValueError: no frames, or a format outside :data:`VIDEO_FORMATS`.
    """
    bad = [f for f in formats if f not in VIDEO_FORMATS]
    if bad or not formats:
        raise ValueError(f"formats={list(formats)!r} is not supported; choose among {', '.join(VIDEO_FORMATS)}.")
    stem = os.fspath(path_stem)
    if len(frames) == 0:
        raise ValueError(f"no frames to write for {stem!r}: build the env with render_mode='rgb_array' (or 'ansi').")
    if isinstance(frames[0], str) or hasattr(frames[0], "getvalue"):
        return [save_ansi(frames, stem + ".txt")]
    paths = []
    for fmt in formats:
        if fmt == "gif":
            paths.append(save_gif(frames, stem + ".gif", fps))
        elif fmt == "mp4":
            paths.append(save_mp4(frames, stem + ".mp4", fps))
        else:
            folder = os.path.dirname(stem) or "."
            write_video_summary(tb_writer if tb_writer is not None else folder, tag or os.path.basename(stem), frames,
                                step, fps)
            if tb_writer is None:
                paths.append(folder)
    return paths


class VideoRecorder:
    """Writes many episodes' videos into one folder; owns the TensorBoard writer, one event file for all.

    Args:
        video_dir: the folder, created on the first write.
        formats: among :data:`VIDEO_FORMATS` (ANSI frames always go to ``.txt``).
        fps: frames per second.
        tag: the TensorBoard summary's name; episodes are told apart by their ``step``.

    Example::

        recorder = VideoRecorder("videos", formats=("gif", "tensorboard"), tag="eval/video")
        recorder.record(episode["frames"], "episode_001", step=1)
        recorder.close()
    """

    def __init__(self, video_dir: str | os.PathLike, formats: Sequence[str] = ("gif",), fps: float = 30,
                 tag: str = "video"):
        bad = [f for f in formats if f not in VIDEO_FORMATS]
        if bad or not formats:
            raise ValueError(f"video formats {list(formats)!r} are not supported; choose among "
                             f"{', '.join(VIDEO_FORMATS)}.")
        _check_fps(fps)
        self.video_dir = os.fspath(video_dir)
        self.formats = tuple(formats)
        self.fps = fps
        self.tag = tag
        self.paths: list = []
        self._tb_writer: Any = None

    def record(self, frames: Sequence[Any], name: str, step: int = 0) -> list:
        """Write ``frames`` as ``video_dir/name.<ext>`` (and a summary at ``step``); return the new paths."""
        wants_tb = "tensorboard" in self.formats and len(frames) > 0 and not isinstance(frames[0], str)
        if wants_tb and self._tb_writer is None:
            from torch.utils.tensorboard import SummaryWriter

            os.makedirs(self.video_dir, exist_ok=True)
            self._tb_writer = SummaryWriter(log_dir=self.video_dir)
            self.paths.append(self.video_dir)
        paths = save_video(frames, os.path.join(self.video_dir, name), self.formats, self.fps,
                           tb_writer=self._tb_writer, tag=self.tag, step=step)
        self.paths += paths
        return paths

    def close(self) -> None:
        """Flush and close the event file (a later :meth:`record` opens a new one)."""
        if self._tb_writer is not None:
            self._tb_writer.close()
            self._tb_writer = None
