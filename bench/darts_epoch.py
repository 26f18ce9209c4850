"""Per-epoch training time of Darts' ``BlockRNNModel(model="LSTM")`` on synthetic windows.

Run with a Python that has ``darts[torch]`` (``.venv-bench``); prints one JSON object.
``bench/run.py`` calls it in a subprocess so that the project venv stays free of Darts.

Why ``BlockRNNModel``: like stockcast it encodes one input chunk (the lookback window) with an
LSTM and maps the final hidden states to all ``output_chunk_length`` horizons at once (a direct
multi-horizon model). ``RNNModel`` instead trains a next-step model over ``training_length``
steps and forecasts recursively, a different model with a different cost.

Same work as stockcast: F input columns (1 target + F-1 past covariates), float32, the same
lookback, horizon, hidden size, layers, batch size, number of windows, AdamW and Huber loss.
"""

from __future__ import annotations

import argparse
import json
import time


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--windows", type=int, default=3400)
    ap.add_argument("--features", type=int, default=4)
    ap.add_argument("--lookback", type=int, default=60)
    ap.add_argument("--horizon", type=int, default=5)
    ap.add_argument("--hidden", type=int, default=64)
    ap.add_argument("--layers", type=int, default=1)
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    ap.add_argument("--data", help=".npy of (n, F) float32 rows (column 0 the target); else random")
    args = ap.parse_args()

    t0 = time.perf_counter()
    import numpy as np
    import pandas as pd
    import torch
    from darts import TimeSeries
    from darts.models import BlockRNNModel
    from pytorch_lightning.callbacks import Callback

    import_s = time.perf_counter() - t0
    if args.threads > 0:
        torch.set_num_threads(args.threads)

    class EpochTimer(Callback):
        def __init__(self) -> None:
            self.starts: list[float] = []
            self.seconds: list[float] = []
            self.batches = 0
            self.samples = 0

        def on_train_epoch_start(self, trainer, pl_module) -> None:
            self.starts.append(time.perf_counter())

        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
            if len(self.starts) == 1:  # count the first epoch's samples
                self.batches += 1
                first = batch.past_target if hasattr(batch, "past_target") else batch[0]
                self.samples += len(first)

        def on_train_epoch_end(self, trainer, pl_module) -> None:
            self.seconds.append(time.perf_counter() - self.starts[-1])

    # a series that yields exactly `windows` training samples
    n = args.windows + args.lookback + args.horizon - 1
    if args.data:
        values = np.load(args.data).astype(np.float32)[:n]
        if len(values) < n:
            raise SystemExit(f"{args.data} has {len(values)} rows; {n} needed")
        args.features = values.shape[1]
    else:
        values = np.random.default_rng(0).standard_normal((n, args.features)).astype(np.float32)
    index = pd.RangeIndex(n)
    target = TimeSeries.from_times_and_values(index, values[:, :1])
    covs = TimeSeries.from_times_and_values(index, values[:, 1:]) if args.features > 1 else None

    timer = EpochTimer()
    model = BlockRNNModel(
        input_chunk_length=args.lookback,
        output_chunk_length=args.horizon,
        model="LSTM",
        hidden_dim=args.hidden,
        n_rnn_layers=args.layers,
        dropout=0.0,
        batch_size=args.batch,
        n_epochs=args.epochs,
        optimizer_cls=torch.optim.AdamW,
        optimizer_kwargs={"lr": 1e-3},
        loss_fn=torch.nn.HuberLoss(),
        random_state=0,
        pl_trainer_kwargs={
            "accelerator": "cpu",
            "callbacks": [timer],
            "enable_progress_bar": False,
            "enable_model_summary": False,
            "logger": False,
            "enable_checkpointing": False,
        },
    )
    t1 = time.perf_counter()
    model.fit(target, past_covariates=covs, verbose=False)
    fit_s = time.perf_counter() - t1
    print(
        json.dumps(
            {
                "darts_model": "BlockRNNModel(model='LSTM')",
                "darts": __import__("darts").__version__,
                "torch": torch.__version__,
                "threads": torch.get_num_threads(),
                "windows": args.windows,
                "import_s": import_s,
                "fit_s": fit_s,
                "epoch_s": timer.seconds,
                "samples_per_epoch": timer.samples,
                "batches_per_epoch": timer.batches,
            }
        )
    )


if __name__ == "__main__":
    main()
