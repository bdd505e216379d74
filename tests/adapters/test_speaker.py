"""The speaker output: pitch from Re, volume from coherence, a continuous tone in a WAV."""

from __future__ import annotations

import math
import sys
import types
import wave
from pathlib import Path

import numpy as np
import pytest

from kairos.actors.adapters import output_adapter
from kairos.actors.outputs.speaker import ToneSynth
from kairos.errors import AdapterError

STEP_NS = 100_000_000  # updates at 10 Hz


def read_wav(path: Path) -> tuple[np.ndarray, int]:
    with wave.open(str(path), "rb") as handle:
        assert (handle.getnchannels(), handle.getsampwidth()) == (1, 2)
        rate = handle.getframerate()
        return np.frombuffer(handle.readframes(handle.getnframes()), dtype="<i2"), rate


def zero_crossing_frequency(samples: np.ndarray, rate: int) -> float:
    signs = np.signbit(samples.astype(np.float64) + 0.5)  # +0.5: no exact zeros
    crossings = np.count_nonzero(signs[1:] != signs[:-1])
    return crossings / 2 / (len(samples) / rate)


def play(adapter, make_state, re_values, coherence=0.5, t0=10**18):
    for k, re_part in enumerate(re_values):
        adapter.write(make_state(t0 + k * STEP_NS, coherence, 0.0, phasor=complex(re_part, 0)))


def test_pitch_follows_re_and_volume_follows_coherence(context, make_state, tmp_path):
    adapter = output_adapter("speaker")({"path": "tone.wav"}, context)
    play(adapter, make_state, [0.0] * 21 + [0.5] * 20 + [-0.5] * 20, coherence=0.5)
    adapter.close()
    samples, rate = read_wav(tmp_path / "tone.wav")
    assert rate == 8000
    assert len(samples) == 60 * 800  # 6 s after the first update, which only sets the clock
    second = 8000
    assert zero_crossing_frequency(samples[: 2 * second], rate) == pytest.approx(440, rel=0.01)
    assert zero_crossing_frequency(samples[2 * second : 4 * second], rate) == pytest.approx(
        660, rel=0.01
    )
    assert zero_crossing_frequency(samples[4 * second :], rate) == pytest.approx(220, rel=0.01)
    peak = np.abs(samples[: 2 * second]).max()
    assert peak == pytest.approx(0.5 * 32767, rel=0.01)


def test_the_tone_is_phase_continuous_across_updates(context, make_state, tmp_path):
    adapter = output_adapter("speaker")({"path": "tone.wav", "sample_rate": 16000}, context)
    play(adapter, make_state, np.linspace(-0.5, 0.9, 30), coherence=1.0)
    adapter.close()
    samples, rate = read_wav(tmp_path / "tone.wav")
    # largest step of a sine at ≤ 836 Hz: 2π·f/rate of full scale; a phase jump would exceed it
    bound = 2 * math.pi * 836 / rate * 32767 * 1.01 + 2
    assert np.abs(np.diff(samples.astype(np.int64))).max() <= bound


def test_the_wav_is_valid_before_close_and_gaps_are_capped(context, make_state, tmp_path):
    adapter = output_adapter("speaker")({"path": "tone.wav", "max_chunk_s": 0.25}, context)
    t0 = 10**18
    adapter.write(make_state(t0, 1.0, 0.0, phasor=0j))
    adapter.write(make_state(t0 + STEP_NS, 1.0, 0.0, phasor=0j))
    assert len(read_wav(tmp_path / "tone.wav")[0]) == 800
    adapter.write(make_state(t0 + 30 * 10**9, 1.0, 0.0, phasor=0j))  # a 30 s silence
    adapter.write(make_state(t0 + 30 * 10**9, 1.0, 0.0, phasor=0j))  # same time: nothing
    adapter.close()
    assert len(read_wav(tmp_path / "tone.wav")[0]) == 800 + 2000


def test_sample_counts_do_not_drift_with_odd_intervals():
    synth = ToneSynth(8000)
    total = sum(len(synth.render(440.0, 1.0, 33_333_333)) for _ in range(300))
    assert total == 300 * 33_333_333 * 8000 // 10**9


def test_device_requires_sounddevice(context, monkeypatch):
    monkeypatch.setitem(sys.modules, "sounddevice", None)  # import fails
    with pytest.raises(AdapterError, match="sounddevice"):
        output_adapter("speaker")({"device": True}, context)


class FakePortAudioError(Exception):
    pass


def fake_sounddevice(has_output: bool) -> types.ModuleType:
    """A stand-in for the optional package: records the stream the adapter opens."""
    module = types.ModuleType("sounddevice")
    module.PortAudioError = FakePortAudioError
    module.streams = []

    def query_devices(kind: str) -> dict:
        if not has_output:
            raise FakePortAudioError("no output device")
        return {"name": "fake", "max_output_channels": 2}

    class OutputStream:
        def __init__(self, samplerate, channels, dtype, callback):
            self.args = (samplerate, channels, dtype)
            self.callback = callback
            self.state = "new"
            module.streams.append(self)

        def start(self):
            self.state = "started"

        def stop(self):
            self.state = "stopped"

        def close(self):
            self.state = "closed"

    module.query_devices = query_devices
    module.OutputStream = OutputStream
    return module


def test_device_without_an_output_is_an_error(context, monkeypatch):
    monkeypatch.setitem(sys.modules, "sounddevice", fake_sounddevice(has_output=False))
    with pytest.raises(AdapterError, match="no usable sound device"):
        output_adapter("speaker")({"device": True}, context)


def test_device_playback_feeds_the_stream_callback(context, make_state, monkeypatch, tmp_path):
    module = fake_sounddevice(has_output=True)
    monkeypatch.setitem(sys.modules, "sounddevice", module)
    adapter = output_adapter("speaker")({"device": True}, context)
    (stream,) = module.streams
    assert stream.args == (8000, 1, "int16") and stream.state == "started"
    play(adapter, make_state, [0.0] * 3, coherence=1.0)  # 2 × 0.1 s of 440 Hz
    out = np.full((1000, 1), 123, dtype=np.int16)
    stream.callback(out, 1000, None, None)
    assert zero_crossing_frequency(out[:, 0], 8000) == pytest.approx(440, rel=0.05)
    stream.callback(out, 1000, None, None)
    assert np.count_nonzero(out[600:]) == 0  # ran out: silence, not a stall
    adapter.close()
    assert stream.state == "closed"
    assert not list(tmp_path.glob("*.wav"))
