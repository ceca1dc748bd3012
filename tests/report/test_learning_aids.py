"""What a learner looks for: curves within epochs and the lr schedule, honest sample grids, eval's
top-k / F1 / confusion, a predict helper, filters beside their initialization, colour bars, a picture
of the training batch, and a report that links back to its leaderboard."""

from __future__ import annotations

import json
import math

import pytest
import torch
from PIL import Image

from cnnzoo.cli import main
from cnnzoo.report import plots, visualize

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def figures(monkeypatch):
    """The matplotlib figures the plotting functions save, kept open for inspection."""
    kept = []
    monkeypatch.setattr(plots, "_save", lambda fig, path, metadata=None: kept.append(fig))
    return kept


def history(n: int) -> list[dict]:
    return [{"epoch": e, "step": 10 * e, "train_loss": 1 / e, "train_acc": 0.5, "val_loss": 1.2 / e,
             "val_acc": 0.5, "lr": 0.1} for e in range(1, n + 1)]


def test_curves_show_the_loss_within_epochs_and_the_lr_schedule(figures, tmp_path):
    steps = [{"step": s, "epoch": s / 10, "train_loss": 2.0, "train_acc": 0.3, "lr": 0.01 * s} for s in range(1, 31)]
    lr = ([0.0, 1.5, 3.0], [0.004, 0.1, 0.0])
    plots.curves(history(3), tmp_path / "c.png", steps=steps, lr=lr)
    loss_ax, _, lr_ax = figures[0].axes
    assert [line.get_label() for line in loss_ax.lines] == ["train (within epochs)", "train (epoch)", "validation"]
    assert len(loss_ax.lines[0].get_xdata()) == 30  # a point per window, not per epoch
    assert lr_ax.get_title() == "learning rate (schedule)"
    assert list(lr_ax.lines[0].get_ydata()) == [0.004, 0.1, 0.0]


def test_curves_x_labels_do_not_run_together_at_20_epochs(figures, tmp_path):
    plots.curves(history(20), tmp_path / "c.png")
    fig = figures[0]
    fig.canvas.draw()
    for ax in fig.axes:
        lo, hi = ax.get_xlim()
        shown = [t for t in ax.get_xticks() if lo <= t <= hi]
        assert len(shown) <= 11, shown
        assert all(float(t).is_integer() for t in shown)


def test_samples_says_mistakes_are_shown_on_purpose_and_the_overall_accuracy(figures, tmp_path):
    targets = torch.arange(100) % 10
    preds = targets.clone()
    preds[:20] = (preds[:20] + 1) % 10  # 20 mistakes: 80% right
    plots.samples(lambda k: torch.zeros(1, 8, 8, dtype=torch.uint8), targets, preds, torch.full((100,), 0.9),
                  [str(i) for i in range(10)], tmp_path / "s.png",
                  split="val")
    title = figures[0]._suptitle.get_text()
    assert "val predictions: 16 of these 32 are mistakes" in title and "on purpose" in title
    assert "overall the model is right on 80.00% of the 100 val images (20 mistakes)" in title


def test_a_cam_for_another_class_does_not_replace_the_cam_of_the_prediction(cnn_run, capsys):
    assert main(["visualize", str(cnn_run), "--what", "cam", "--index", "7"]) == 0
    predicted = cnn_run / "plots" / "cam-test7.png"
    first = predicted.read_bytes()
    said = capsys.readouterr().out.split("'")[1]  # "'Coat' 99.1% (predicted), ..."
    other = next(c for c in json.loads((cnn_run / "summary.json").read_text())["per_class_acc"] if c != said)
    assert main(["visualize", str(cnn_run), "--what", "cam", "--index", "7", "--class", other]) == 0
    out = capsys.readouterr().out
    assert out.strip().endswith(f"cam-test7-{visualize._slug(other)}.png")
    assert predicted.read_bytes() == first  # still the predicted class's picture


def test_filters_beside_the_initial_filters_with_a_sign_aware_scale(cnn_run, figures, capsys):
    from cnnzoo.engine.inference import load_run
    from cnnzoo.models import create_model
    from cnnzoo.report.runs import read_run

    assert main(["visualize", str(cnn_run), "--what", "filters"]) == 0
    assert "beside the initial weights" in capsys.readouterr().out
    fig = figures[-1]
    assert [sf._suptitle.get_text() for sf in fig.subfigs] == ["at initialization (the run's seed)", "trained"]
    assert any(ax.get_ylabel() == "weight / max |weight|" for ax in fig.axes)  # the colour bar
    # the initial network is the one training started from: the trainer seeds before building it
    run = load_run(cnn_run)
    init = visualize.initial_model(read_run(cnn_run), run.spec, torch.device("cpu"))
    torch.manual_seed(0)
    fresh = create_model(run.spec.model, num_classes=10, in_channels=1, image_size=28)
    assert torch.equal(visualize.first_layer(init, run.spec)[1], visualize.first_layer(fresh, run.spec)[1])
    assert not torch.equal(visualize.first_layer(init, run.spec)[1], visualize.first_layer(run.model, run.spec)[1])
    t = visualize.signed_tiles(torch.tensor([[[[-2.0, 0.0], [1.0, 0.5]]]]))
    assert t.tolist() == [[[[-1.0, 0.0], [0.5, 0.25]]]]  # zero stays zero, signs kept


def test_feature_maps_and_cams_have_colour_bars(cnn_run, figures, capsys):
    assert main(["visualize", str(cnn_run), "--what", "features"]) == 0
    assert main(["visualize", str(cnn_run), "--what", "cam", "--index", "2"]) == 0
    labels = [[ax.get_ylabel() for ax in fig.axes] for fig in figures[-2:]]
    assert "activation (0 = channel min, 1 = channel max)" in labels[0]
    assert "evidence (1 = strongest, 0 = none)" in labels[1]


def test_precision_recall_f1():
    from cnnzoo.engine.metrics import precision_recall_f1

    m = torch.tensor([[8, 2, 0], [1, 9, 0], [0, 0, 0]])  # class 2: no images, never predicted
    (p0, r0, f0), (p1, r1, _), (p2, r2, f2) = precision_recall_f1(m)
    assert (p0, r0) == pytest.approx((8 / 9, 0.8)) and f0 == pytest.approx(2 * p0 * r0 / (p0 + r0))
    assert (p1, r1) == pytest.approx((9 / 11, 0.9))
    assert all(math.isnan(v) for v in (p2, r2, f2))


def test_eval_prints_topk_f1_and_the_confusion_matrix_and_draws_it(cnn_run, tmp_path, capsys):
    out = tmp_path / "e.json"
    assert main(["eval", str(cnn_run), "--device", "cpu", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    result = json.loads(out.read_text())
    assert set(result["topk_accuracy"]) == {"1", "3", "5"}
    assert result["topk_accuracy"]["1"] == pytest.approx(result["accuracy"])
    assert result["topk_accuracy"]["1"] <= result["topk_accuracy"]["3"] <= result["topk_accuracy"]["5"]
    assert len(result["per_class_f1"]) == 10
    assert "top-3" in text and "macro F1" in text and "precision" in text
    assert "confusion matrix (rows: true class, columns: predicted" in text
    matrix = [line for line in text.splitlines() if line.rstrip().endswith("Ankle boot") and line.startswith("   9")]
    assert len(matrix) == 1
    picture = tmp_path / "e-confusion.png"
    assert picture.read_bytes().startswith(PNG_MAGIC) and str(picture) in text


def test_load_run_predicts_paths_and_pil_images_as_cnnzoo_predict_does(cnn_run, tmp_path):
    import cnnzoo
    from cnnzoo.engine.predict import predict_files

    photo = tmp_path / "shoe.png"
    Image.new("RGB", (50, 70), (30, 30, 30)).save(photo)
    run = cnnzoo.load_run(cnn_run)
    model, spec = run  # unpacks as before
    assert model is run.model and spec.classes == run.classes
    one = run.predict(photo)
    both = run.predict([str(photo), Image.open(photo)], topk=2)
    cli = predict_files(cnn_run, [photo], topk=3)[0]["predictions"]
    assert (one.label, one.index) == (cli[0]["label"], cli[0]["index"])
    assert one.prob == pytest.approx(cli[0]["prob"], abs=1e-5)
    assert [p.label for p in both] == [one.label] * 2 and len(both[0].top) == 2
    with pytest.raises(cnnzoo.DataError, match="pass a file path, a PIL image"):
        run.predict(42)


def test_data_show_draws_the_training_batch_after_augmentation(fashion_dir, tmp_path, capsys):
    out = tmp_path / "batch.png"
    assert main(["data", "show", "fashion-mnist", "--data-dir", str(fashion_dir), "--offline", "--model", "cnn",
                 "-n", "8", "--set", "data.augment.crop_padding=3", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "8 training images of fashion-mnist at 1x28x28, epoch 1: random crops (padding 3)" in text
    assert out.read_bytes().startswith(PNG_MAGIC)


def test_the_report_shows_samples_the_lr_schedule_and_links_to_its_leaderboard(cnn_run, capsys):
    assert main(["report", str(cnn_run)]) == 0
    page = (cnn_run / "report.html").read_text()
    assert '<h3 id="samples">Sample predictions</h3>' in page
    assert "chosen on purpose" in page and "the learning rate as the schedule set it" in page
    assert f"its leaderboard: <code>{cnn_run.parent.parent.resolve() / 'leaderboard.html'}</code>" in page
    assert (cnn_run / "plots" / "samples.png").is_file()


def test_the_report_header_names_the_width_and_the_published_figures(cnn_run, tmp_path, monkeypatch):
    from cnnzoo.report import html
    from cnnzoo.report.runs import read_run

    run = read_run(cnn_run)
    run.summary["model_label"] = "convnet (width_mult=0.25)"  # as summary.json records a recipe's width
    assert html.network_label(run) == "convnet (width_mult=0.25)"
    run.summary["model"] = "resnet18"
    note = html._published(run)
    assert "Published: 11.69M parameters, 1.81G MACs for resnet18 at 3x224x224 with 1000 classes" in note
