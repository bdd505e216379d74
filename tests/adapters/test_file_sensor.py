"""The file sensor: CSV, .npy and WAV playback, looping, exhaustion, paths and errors."""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np
import pytest

from kairos.actors.adapters import AdapterContext, sensor_adapter
from kairos.errors import AdapterError

T0 = 1_763_000_000_000_000_000


def make(params: dict, rate_hz: float = 100.0, work_dir: Path | None = None):
    ctx = AdapterContext("player", work_dir=work_dir or Path.cwd())
    return sensor_adapter("file")(params, rate_hz, ctx)


def stamps(n: int, rate_hz: float = 100.0) -> np.ndarray:
    return T0 + np.arange(n, dtype=np.int64) * int(1e9 / rate_hz)


def write_csv(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_csv_with_header_by_name_and_index(tmp_path):
    path = write_csv(tmp_path / "s.csv", "t,value,other\n0,1.5,9\n1,-2,8\n2,3e-1,7\n")
    by_name = make({"path": str(path), "column": "value"}).read(stamps(3))
    by_index = make({"path": str(path), "column": 1}).read(stamps(3))
    np.testing.assert_array_equal(by_name, [1.5, -2.0, 0.3])
    np.testing.assert_array_equal(by_index, by_name)
    assert by_name.dtype == np.float64


def test_csv_without_header_defaults_to_column_0(tmp_path):
    path = write_csv(tmp_path / "s.csv", "4,1\n5,1\n\n6,1\n")
    np.testing.assert_array_equal(make({"path": str(path)}).read(stamps(3)), [4, 5, 6])


def test_tsv_uses_tabs(tmp_path):
    path = write_csv(tmp_path / "s.tsv", "a\tb\n1\t2\n3\t4\n")
    np.testing.assert_array_equal(make({"path": str(path), "column": "b"}).read(stamps(2)), [2, 4])


def test_plays_in_order_then_stays_exhausted(tmp_path):
    path = write_csv(tmp_path / "s.csv", "\n".join(str(v) for v in range(10)))
    sensor = make({"path": str(path)})
    assert list(sensor.read(stamps(4))) == [0, 1, 2, 3]
    # stamps may skip ahead after a stall: the file still plays its next samples
    assert list(sensor.read(stamps(4) + 10**10)) == [4, 5, 6, 7]
    assert list(sensor.read(stamps(4))) == [8, 9]
    assert sensor.exhausted
    assert sensor.read(stamps(4)).shape == (0,)
    assert sensor.read(stamps(1)).shape == (0,)


def test_loop_restarts_at_the_end(tmp_path):
    path = write_csv(tmp_path / "s.csv", "0\n1\n2\n")
    sensor = make({"path": str(path), "loop": True})
    assert list(sensor.read(stamps(4))) == [0, 1, 2, 0]
    assert list(sensor.read(stamps(5))) == [1, 2, 0, 1, 2]
    assert not sensor.exhausted


def test_csv_at_its_own_rate_is_held_at_a_faster_actor_rate(tmp_path):
    path = write_csv(tmp_path / "s.csv", "0\n1\n2\n")
    sensor = make({"path": str(path), "rate_hz": 50.0}, rate_hz=100.0)
    assert list(sensor.read(stamps(7))) == [0, 0, 1, 1, 2, 2]


def test_relative_paths_start_at_base_dir_else_the_working_directory(tmp_path, monkeypatch):
    (tmp_path / "data").mkdir()
    write_csv(tmp_path / "data" / "s.csv", "7\n")
    assert list(make({"path": "data/s.csv", "base_dir": str(tmp_path)}).read(stamps(1))) == [7]
    monkeypatch.chdir(tmp_path / "data")
    assert list(make({"path": "s.csv"}).read(stamps(1))) == [7]


@pytest.mark.parametrize(
    ("text", "params", "message"),
    [
        ("a,b\n1,2\n", {"column": "zz"}, "no column 'zz'; columns: a, b"),
        ("1,2\n", {"column": "a"}, "no header row"),
        ("1,2\n3\n", {"column": 1}, "line 2: no column 1"),
        ("a\n1\nx\n", {}, "line 3: 'x' is not a number"),
        ("", {}, "no rows"),
    ],
)
def test_csv_errors_name_the_file(tmp_path, text, params, message):
    path = write_csv(tmp_path / "bad.csv", text)
    with pytest.raises(AdapterError) as info:
        make({"path": str(path), **params})
    assert str(path) in str(info.value)
    assert message in str(info.value)


def test_missing_and_unknown_files_fail_at_construction(tmp_path):
    with pytest.raises(AdapterError, match="no such file") as info:
        make({"path": str(tmp_path / "nope.csv")})
    assert "nope.csv" in str(info.value)
    (tmp_path / "x.bin").write_bytes(b"\0")
    with pytest.raises(AdapterError, match="unknown format"):
        make({"path": str(tmp_path / "x.bin")})
    (tmp_path / "x.npy").write_bytes(b"not numpy")
    with pytest.raises(AdapterError, match=r"cannot read as \.npy"):
        make({"path": str(tmp_path / "x.npy")})


def test_npy_1d_2d_and_structured(tmp_path):
    np.save(tmp_path / "one.npy", np.arange(5, dtype=np.int16))
    np.save(tmp_path / "two.npy", np.arange(12.0).reshape(6, 2))
    rec = np.zeros(3, dtype=[("a", "<f4"), ("b", "<i8")])
    rec["b"] = [5, 6, 7]
    np.save(tmp_path / "rec.npy", rec)
    assert list(make({"path": str(tmp_path / "one.npy")}).read(stamps(9))) == [0, 1, 2, 3, 4]
    assert list(make({"path": str(tmp_path / "two.npy"), "column": 1}).read(stamps(3))) == [
        1,
        3,
        5,
    ]
    assert list(make({"path": str(tmp_path / "rec.npy"), "column": "b"}).read(stamps(3))) == [
        5,
        6,
        7,
    ]
    with pytest.raises(AdapterError, match="no column 2"):
        make({"path": str(tmp_path / "two.npy"), "column": 2})
    with pytest.raises(AdapterError, match="fields: a, b"):
        make({"path": str(tmp_path / "rec.npy"), "column": "c"})


def write_wav(path: Path, width: int, rate: int, frames: np.ndarray) -> None:
    """frames: integer samples (n, channels) in the width's native range."""
    with wave.open(str(path), "wb") as handle:
        handle.setnchannels(frames.shape[1])
        handle.setsampwidth(width)
        handle.setframerate(rate)
        if width == 1:
            raw = (frames + 128).astype(np.uint8).tobytes()
        else:
            as_bytes = frames.astype("<i4").view(np.uint8).reshape(*frames.shape, 4)
            raw = np.ascontiguousarray(as_bytes[..., :width]).tobytes()
        handle.writeframes(raw)


@pytest.mark.parametrize("width", [1, 2, 3, 4])
def test_wav_pcm_widths_scale_to_unit_range(tmp_path, width):
    full = 2 ** (8 * width - 1)
    left = np.array([0, full // 2, -full, full - 1, -(full // 4)])
    right = -left // 2
    path = tmp_path / f"w{width}.wav"
    write_wav(path, width, 100, np.stack([left, right], axis=1))
    got = make({"path": str(path)}).read(stamps(5))
    np.testing.assert_allclose(got, left / full, atol=0)
    assert got.min() >= -1.0 and got.max() < 1.0
    channel_1 = make({"path": str(path), "column": 1}).read(stamps(5))
    np.testing.assert_allclose(channel_1, right / full, atol=0)


def test_wav_plays_at_its_own_rate(tmp_path):
    path = tmp_path / "slow.wav"
    write_wav(path, 2, 50, np.array([[0], [16384], [-16384]]))
    sensor = make({"path": str(path)}, rate_hz=100.0)
    assert sensor.file_rate_hz == 50.0
    np.testing.assert_array_equal(sensor.read(stamps(6)), [0, 0, 0.5, 0.5, -0.5, -0.5])


def test_wav_errors(tmp_path):
    path = tmp_path / "m.wav"
    write_wav(path, 2, 100, np.zeros((4, 1), dtype=int))
    with pytest.raises(AdapterError, match="no channel 1"):
        make({"path": str(path), "column": 1})
    with pytest.raises(AdapterError, match="chosen by index"):
        make({"path": str(path), "column": "left"})
    (tmp_path / "junk.wav").write_bytes(b"RIFF0000WAVEjunk")
    with pytest.raises(AdapterError, match="cannot read as PCM WAV"):
        make({"path": str(tmp_path / "junk.wav")})
