"""The price store: schema round trip, atomic replace under crashes, concurrent writers, locks."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pandas as pd
import pytest
from helpers import linear_prices

from stockcast.data.store import SCHEMA_VERSION, PriceStore
from stockcast.errors import DataError, LockTimeout


def test_schema_round_trip(stockcast_home: Path) -> None:
    store = PriceStore(stockcast_home)
    df = linear_prices(50)
    with store.lock("RT"):
        store.write("rt", df, source="csv", source_ref="/x/rt.csv")
    back = store.read("RT")
    pd.testing.assert_frame_equal(back, df, check_freq=False)
    info = store.info("RT")
    assert (info.rows, info.first, info.last) == (50, "2000-01-03", "2000-03-10")
    assert (info.source, info.source_ref, info.schema_version) == (
        "csv",
        "/x/rt.csv",
        SCHEMA_VERSION,
    )
    assert store.symbols() == ["RT"]


def test_refuses_unsorted_sessions(stockcast_home: Path) -> None:
    store = PriceStore(stockcast_home)
    with pytest.raises(DataError, match="sorted and unique"):
        store.write("X", linear_prices(5).iloc[::-1], source="csv")
    assert not store.exists("X")


def test_crash_during_write_keeps_previous_data(
    stockcast_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import pyarrow.parquet as pq

    store = PriceStore(stockcast_home)
    old = linear_prices(30)
    store.write("CR", old, source="csv")

    def half_write(table, fh, **kw):
        fh.write(b"PAR1 half a file")
        raise OSError("disk full")

    monkeypatch.setattr(pq, "write_table", half_write)
    with pytest.raises(OSError, match="disk full"):
        store.write("CR", linear_prices(60), source="csv")
    pd.testing.assert_frame_equal(store.read("CR"), old, check_freq=False)
    assert [p.name for p in (stockcast_home / "prices").iterdir()] == ["CR.parquet"]


_WRITER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    sys.path.insert(0, sys.argv[2])
    from helpers import linear_prices
    from stockcast.data.store import PriceStore
    store = PriceStore(Path(sys.argv[1]))
    frames = [linear_prices(4000), linear_prices(6000, level=50.0)]
    i = 0
    while True:
        with store.lock("KILL"):
            store.write("KILL", frames[i % 2], source="csv")
        i += 1
        if i == 2:
            print("ready", flush=True)
    """
)


@pytest.mark.slow
def test_kill_9_mid_write_leaves_whole_data(stockcast_home: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-c", _WRITER, str(stockcast_home), str(Path(__file__).parent)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        time.sleep(0.3)
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    store = PriceStore(stockcast_home)
    df = store.read("KILL")
    expected = linear_prices(4000) if len(df) == 4000 else linear_prices(6000, level=50.0)
    pd.testing.assert_frame_equal(df, expected, check_freq=False)
    with store.lock("KILL", timeout=5):  # the dead writer's lock went with it
        store.write("KILL", linear_prices(10), source="csv")
    assert store.symbols() == ["KILL"]  # stray temporary files are not symbols


_MERGER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    import pandas as pd
    sys.path.insert(0, sys.argv[2])
    from helpers import linear_prices
    from stockcast.data.store import PriceStore
    store = PriceStore(Path(sys.argv[1]))
    k = int(sys.argv[3])
    for j in range(4):
        row = linear_prices(1)
        row.index = pd.DatetimeIndex([f"2001-0{k + 1}-1{j}"], name="date")
        with store.lock("MRG"):
            old = store.read("MRG") if store.exists("MRG") else row.iloc[:0]
            store.write("MRG", pd.concat([old, row]).sort_index(), source="csv")
    """
)


@pytest.mark.slow
def test_concurrent_writers_lose_nothing(stockcast_home: Path) -> None:
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _MERGER, str(stockcast_home), str(Path(__file__).parent), str(k)]
        )
        for k in range(3)
    ]
    assert [p.wait(timeout=60) for p in procs] == [0, 0, 0]
    df = PriceStore(stockcast_home).read("MRG")
    assert len(df) == 12 and df.index.is_unique


def test_lock_timeout_is_a_clear_message(stockcast_home: Path) -> None:
    store = PriceStore(stockcast_home)
    with store.lock("BUSY"), pytest.raises(LockTimeout) as err, store.lock("BUSY", timeout=0.2):
        pass
    message = str(err.value)
    assert "BUSY" in message and "locked by another stockcast process" in message
    assert "\n" not in message


def test_foreign_or_garbage_files_give_one_clear_line(stockcast_home: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    store = PriceStore(stockcast_home)
    folder = stockcast_home / "prices"
    folder.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table({"date": [1, 2], "close": [1.0, 2.0]}), folder / "FOO.parquet")
    with pytest.raises(DataError, match=r"FOO lack .*open.*stockcast fetch FOO --full"):
        store.read("FOO")
    (folder / "BAD.parquet").write_bytes(b"not parquet at all")
    with pytest.raises(DataError, match=r"BAD are unreadable.*--full"):
        store.info("BAD")
    with pytest.raises(DataError, match=r"BAD are unreadable.*--full"):
        store.read("BAD")


def test_the_next_writer_removes_a_killed_writers_old_temporary(tmp_path) -> None:
    import os
    import time

    from stockcast.data import fsutil

    target = tmp_path / "prices" / "MSFT.parquet"
    target.parent.mkdir(parents=True)
    old = target.parent / ".MSFT.parquet.abc123.tmp"
    young = target.parent / ".MSFT.parquet.def456.tmp"
    for f in (old, young):
        f.write_bytes(b"half a file")
    past = time.time() - fsutil.STALE_TMP_SECONDS - 60
    os.utime(old, (past, past))
    fsutil.atomic_write_bytes(target, b"whole")
    assert target.read_bytes() == b"whole"
    assert not old.exists() and young.exists()  # a young one may be a concurrent writer's
