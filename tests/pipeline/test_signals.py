import pyarrow as pa
import pytest

from pipeline.signals import collect_signals, signal_percentiles, signal_table


def test_signal_table_reads_run_shards(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    batch = pa.RecordBatch.from_pydict(
        {
            "id": [str(i) for i in range(100)],
            "text": ["x"] * 100,
            "_a": [float(i + 1) for i in range(100)],
            "_lang": ["zh"] * 100,
        }
    )
    with pa.ipc.new_stream(str(data / "data-00000-of-00001.arrow"), batch.schema) as w:
        w.write_batch(batch)
    table = signal_table(str(tmp_path))
    lines = table.splitlines()
    assert "p1" in lines[1] and "p99" in lines[1]
    row = next(line for line in lines if line.startswith("_a"))
    # 1..100: n 100, mean 50.5, p50 = 50.5 (numpy linear interpolation), p1 = 1.99, p99 = 99.01
    assert row.split()[:4] == ["_a", "100", "50.5", "1.99"] and "50.5" in row.split() and "99.01" in row
    assert "_lang" not in table  # strings are not signals


def test_batches_and_missing_run(tmp_path):
    b = pa.RecordBatch.from_pydict({"_x": [1, None, 3]})
    assert collect_signals([b])["_x"].tolist() == [1.0, 3.0]
    assert "_x" in signal_percentiles([b])
    with pytest.raises(FileNotFoundError, match="no data"):
        signal_table(str(tmp_path))
