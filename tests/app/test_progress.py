"""tfprune/app/progress.py: one tqdm bar over all batches of a fit call, loss/accuracy (and
at epoch end val_accuracy, sparsity) in its postfix; nothing at all when disabled."""

from tfprune.app.progress import TqdmProgress


def _run(bar, epochs, steps, batch_logs, epoch_logs):
    bar.on_train_begin()
    for e in range(epochs):
        for b in range(steps):
            bar.on_train_batch_end(b, batch_logs)
        bar.on_epoch_end(e, epoch_logs)
    live = bar._bar
    bar.on_train_end()
    return live


def test_the_bar_counts_every_batch_of_every_epoch_and_shows_chosen_logs(capsys):
    bar = TqdmProgress(epochs=2, steps=3, desc="prune")
    live = _run(bar, 2, 3, {"loss": 0.5, "accuracy": 0.25, "lr": 1e-3},
                {"loss": 0.4, "val_accuracy": 0.75, "sparsity": 0.5, "lr": 1e-3})
    assert live.total == 6 and live.n == 6 and live.desc == "prune"
    assert live.postfix == "loss=0.400, val_accuracy=0.750, sparsity=0.500"
    err = capsys.readouterr().err
    assert "prune" in err and "6/6" in err and "lr" not in err


def test_a_disabled_bar_writes_nothing(capsys):
    _run(TqdmProgress(epochs=1, steps=2, disable=True), 1, 2, {"loss": 1.0}, {"loss": 1.0})
    assert capsys.readouterr().err == ""
