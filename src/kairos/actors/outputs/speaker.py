"""Makes the state audible: a tone at 440 + 440·Re Hz whose volume is the coherence.

Each update renders the time elapsed (in mesh time) since the previous update, capped, at
the new frequency and volume; the tone's phase runs on across updates so frequency changes
do not click.  The tone goes to a 16-bit mono WAV file, or to the sound card when
``device: true`` and the optional ``sounddevice`` package finds an output device.
"""

from __future__ import annotations

import collections
import math
import threading
import wave
from collections.abc import Mapping
from typing import Any, BinaryIO, ClassVar

import numpy as np

from kairos.actors.adapters import AdapterContext, OutputAdapter, OutputState
from kairos.actors.outputs._common import path_schema, resolve_path
from kairos.errors import AdapterError

_NS_PER_S = 1_000_000_000
_FULL_SCALE = 32767


def tone_frequency(state: OutputState) -> float:
    """440 Hz at Re = 0, 0 Hz at Re = −1, 880 Hz at Re = 1."""
    return 440.0 + 440.0 * float(state.phasor.real)


class ToneSynth:
    """A phase-continuous sine generator fed with (frequency, volume, duration) steps."""

    def __init__(self, sample_rate: int):
        self.sample_rate = sample_rate
        self._phase = 0.0  # radians, after the last rendered sample
        self._residue = 0  # ns·sample_rate not yet rendered (keeps the sample count exact)

    def render(self, freq_hz: float, volume: float, duration_ns: int) -> np.ndarray:
        """int16 samples for ``duration_ns`` more nanoseconds of tone."""
        total = self._residue + max(int(duration_ns), 0) * self.sample_rate
        count, self._residue = divmod(total, _NS_PER_S)
        freq = min(max(freq_hz, 0.0), self.sample_rate / 2.0)
        step = 2.0 * math.pi * freq / self.sample_rate
        phases = self._phase + step * np.arange(1, count + 1, dtype=np.float64)
        if count:
            self._phase = float(phases[-1] % (2.0 * math.pi))
        level = min(max(volume, 0.0), 1.0) * _FULL_SCALE
        return np.round(level * np.sin(phases)).astype("<i2")


class _DevicePlayer:
    """Feeds a sounddevice output stream from a bounded buffer (the callback never waits)."""

    def __init__(self, sounddevice: Any, sample_rate: int, max_buffer_s: float):
        self._chunks: collections.deque[np.ndarray] = collections.deque()
        self._buffered = 0
        self._limit = int(max_buffer_s * sample_rate)
        self._lock = threading.Lock()
        self.dropped_samples = 0
        self._stream = sounddevice.OutputStream(
            samplerate=sample_rate, channels=1, dtype="int16", callback=self._callback
        )
        self._stream.start()

    def play(self, samples: np.ndarray) -> None:
        with self._lock:
            self._chunks.append(samples)
            self._buffered += len(samples)
            while self._buffered > self._limit and len(self._chunks) > 1:
                old = self._chunks.popleft()
                self._buffered -= len(old)
                self.dropped_samples += len(old)

    def _callback(self, outdata: np.ndarray, frames: int, _time: Any, _status: Any) -> None:
        filled = 0
        with self._lock:
            while filled < frames and self._chunks:
                chunk = self._chunks[0]
                take = min(frames - filled, len(chunk))
                outdata[filled : filled + take, 0] = chunk[:take]
                filled += take
                self._buffered -= take
                if take == len(chunk):
                    self._chunks.popleft()
                else:
                    self._chunks[0] = chunk[take:]
        outdata[filled:, 0] = 0  # silence when the mesh is late, never a stall

    def close(self) -> None:
        self._stream.stop()
        self._stream.close()


def _open_device(sample_rate: int, max_buffer_s: float, actor: str) -> _DevicePlayer:
    try:
        import sounddevice
    except (ImportError, OSError) as exc:  # OSError: the PortAudio library is missing
        raise AdapterError(
            f"speaker output of {actor}: device: true needs the optional package "
            f"'sounddevice' ({exc}); install it or set device: false to write a WAV file"
        ) from exc
    errors = (getattr(sounddevice, "PortAudioError", OSError), OSError, ValueError)
    try:
        sounddevice.query_devices(kind="output")
        return _DevicePlayer(sounddevice, sample_rate, max_buffer_s)
    except errors as exc:
        raise AdapterError(f"speaker output of {actor}: no usable sound device: {exc}") from exc


class SpeakerOutput(OutputAdapter):
    """A tone whose pitch follows Re of the phasor and whose volume is the coherence."""

    name = "speaker"
    params_schema: ClassVar[Mapping[str, Any]] = {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "path": path_schema(
                "WAV file to render into, relative to the actor's work directory "
                "(default <actor>.wav)"
            ),
            "sample_rate": {
                "type": "integer",
                "minimum": 1000,
                "maximum": 192000,
                "description": "samples per second (default 8000)",
            },
            "max_chunk_s": {
                "type": "number",
                "exclusiveMinimum": 0,
                "description": "longest stretch one update renders, so a silent mesh does "
                "not produce a burst of tone (default 0.5)",
            },
            "device": {
                "type": "boolean",
                "description": "play on the sound card instead (needs the optional "
                "'sounddevice' package and an output device; default false)",
            },
        },
    }

    def __init__(self, params: Mapping[str, Any], context: AdapterContext):
        super().__init__(params, context)
        self.sample_rate = int(params.get("sample_rate", 8000))
        self.max_chunk_ns = int(float(params.get("max_chunk_s", 0.5)) * _NS_PER_S)
        self._synth = ToneSynth(self.sample_rate)
        self._t_prev: int | None = None
        self._device: _DevicePlayer | None = None
        self._file: BinaryIO | None = None
        self._wav: wave.Wave_write | None = None
        self.path = None
        if params.get("device", False):
            self._device = _open_device(
                self.sample_rate, 4 * self.max_chunk_ns / 1e9, context.actor
            )
            return
        self.path = resolve_path(params.get("path", f"{context.actor}.wav"), context)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file = self.path.open("wb")
        except OSError as exc:
            raise AdapterError(f"speaker output: cannot open {self.path}: {exc.strerror}") from exc
        self._wav = wave.open(self._file, "wb")  # noqa: SIM115 - open until close()
        self._wav.setnchannels(1)
        self._wav.setsampwidth(2)
        self._wav.setframerate(self.sample_rate)

    def write(self, state: OutputState) -> None:
        t_ns = int(state.t_ns)
        if self._t_prev is None or t_ns <= self._t_prev:
            self._t_prev = t_ns if self._t_prev is None else self._t_prev
            return
        elapsed = min(t_ns - self._t_prev, self.max_chunk_ns)
        self._t_prev = t_ns
        samples = self._synth.render(tone_frequency(state), float(state.coherence), elapsed)
        if self._device is not None:
            self._device.play(samples)
        elif self._wav is not None and self._file is not None:
            # writeframes rewrites the header's sizes, so the file on disk stays a valid WAV
            self._wav.writeframes(samples.tobytes())
            self._file.flush()

    def close(self) -> None:
        if self._device is not None:
            self._device.close()
            self._device = None
        if self._wav is not None:
            self._wav.close()
            self._wav = None
        if self._file is not None:
            self._file.close()
            self._file = None
