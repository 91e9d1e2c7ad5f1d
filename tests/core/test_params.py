import pytest

from mnistflow.core.params import ParamsError, apply_overrides, flatten, load_params, parse_params, read_yaml

from conftest import REPO, default_params, small_params, write_yaml


def test_default_params_file_parses_into_the_classic_configuration():
    params = load_params(REPO / "params.yaml")
    assert (params.model.mlp.units, params.model.mlp.activation, params.train.optimizer) == (64, "relu", "adam")
    assert (params.train.batch_size, params.train.epochs, params.train.learning_rate) == (64, 20, 0.001)
    assert params.model.mlp.hidden_initializer == params.model.mlp.output_initializer == "normal"
    assert round(60000 * params.prepare.validation_fraction) == 5000


@pytest.mark.parametrize(("section", "key", "value", "message"), [
    ("train", "epochs", 0, "train.epochs must be an integer >= 1, got 0"),
    ("train", "epochs", -3, "train.epochs must be an integer >= 1"),
    ("model.mlp", "units", 0, "model.mlp.units must be an integer in 1-65536"),
    ("train", "batch_size", 0, "train.batch_size must be an integer >= 1"),
    ("train", "optimizer", "adamm", "train.optimizer must be one of adam"),
    ("model.mlp", "activation", "relux", "model.mlp.activation must be one of"),
    ("model.mlp", "hidden_initializer", "gaussian", "model.mlp.hidden_initializer must be one of"),
    ("model.mlp", "output_initializer", "gaussian", "model.mlp.output_initializer must be one of"),
    ("train", "loss", "mse", "train.loss must be one of crossentropy, clipped_crossentropy"),
    ("train", "learning_rate", 0, "train.learning_rate must be a number in (0, 10]"),
    ("train", "epochs", "20", "train.epochs must be int, got '20'"),
    ("model.mlp", "units", True, "model.mlp.units must be an integer"),
    ("prepare", "validation_fraction", 0, "prepare.validation_fraction must be in (0, 1)"),
    ("prepare", "validation_fraction", 1.0, "prepare.validation_fraction must be in (0, 1)"),
    ("prepare", "scale", "yes", "prepare.scale must be bool"),
    ("diagnostics", "collapse_threshold", 1.5, "diagnostics.collapse_threshold must be in (0, 1)"),
    ("model", "arch", "resnet", "model.arch must be one of mlp, cnn"),
    ("model.cnn", "filters", 0, "model.cnn.filters must be an integer in 1-65536"),
    ("model.cnn", "dense_dropout", 1.0, "model.cnn.dense_dropout must be in [0, 1)"),
    ("train", "augment_shift", 9, "train.augment_shift must be an integer in 0-8"),
    ("train", "learning_rate_decay", 0, "train.learning_rate_decay must be in (0, 1]"),
])
def test_bad_value_is_rejected_naming_key_and_expectation(section, key, value, message):
    raw = default_params()
    mapping = raw
    for part in section.split("."):
        mapping = mapping[part]
    mapping[key] = value
    with pytest.raises(ParamsError) as error:
        parse_params(raw)
    assert message in str(error.value)


@pytest.mark.parametrize(("key", "value", "message"), [
    ("train.learning_rate", float("inf"), r"train.learning_rate must be a number in \(0, 10\], got inf"),
    ("train.learning_rate", 1e9, r"train.learning_rate must be a number in \(0, 10\], got 1000000000.0"),
    ("model.mlp.units", 10**12, "model.mlp.units must be an integer in 1-65536, got 1000000000000"),
    ("model.cnn.dense_units", 10**6, "model.cnn.dense_units must be an integer in 1-65536, got 1000000"),
])
def test_nonsense_sizes_are_refused_with_the_bound(key, value, message):
    with pytest.raises(ParamsError, match=message):
        apply_overrides(small_params(), {key: value})


def test_unknown_key_is_rejected_with_its_dotted_name():
    raw = default_params()
    raw["model"]["mlp"]["unit"] = 64
    with pytest.raises(ParamsError, match=r"unknown key model\.mlp\.unit \(expected one of: units, activation"):
        parse_params(raw)
    raw = default_params()
    raw["trainer"] = {}
    with pytest.raises(ParamsError, match="unknown key trainer"):
        parse_params(raw)


def test_missing_key_is_rejected():
    raw = default_params()
    del raw["train"]["seed"]
    with pytest.raises(ParamsError, match=r"missing key train\.seed"):
        parse_params(raw)


def test_file_errors_name_the_file(tmp_path):
    with pytest.raises(ParamsError, match="file not found"):
        load_params(tmp_path / "nope.yaml")
    broken = tmp_path / "broken.yaml"
    broken.write_text("train: [unclosed\n")
    with pytest.raises(ParamsError, match=f"{broken}: not valid YAML"):
        load_params(broken)
    raw = default_params()
    wrong = write_yaml(tmp_path / "wrong.yaml", {**raw, "train": {**raw["train"], "epochs": 0}})
    with pytest.raises(ParamsError, match=f"{wrong}: train.epochs"):
        load_params(wrong)


def test_flatten_gives_every_param_a_dotted_name():
    raw = default_params()
    flat = flatten(parse_params(small_params()))
    assert flat["model.mlp.units"] == 64 and flat["prepare.train_limit"] == 2000 and flat["model.arch"] == "mlp"
    assert not [key for key in flat if key.startswith("model.cnn.")]  # only the chosen architecture's params
    assert len(flat) == sum(len(section) for section in raw.values()) - 2 + len(raw["model"]["mlp"])
    cnn = flatten(parse_params(small_params(model={"arch": "cnn"})), ("model",))
    assert set(cnn) == {"model.arch", *(f"model.cnn.{key}" for key in raw["model"]["cnn"])}


def test_params_are_frozen():
    params = parse_params(default_params())
    with pytest.raises(AttributeError):
        params.train.epochs = 3


def test_a_key_given_twice_is_named(tmp_path):
    (tmp_path / "params.yaml").write_text("prepare:\n  scale: true\n  scale: false\n")
    with pytest.raises(ParamsError, match=r"params.yaml: key 'scale' is given twice \(line 2\)"):
        load_params(tmp_path / "params.yaml")


@pytest.mark.parametrize(("section", "key", "value"), [("train", "seed", -1), ("train", "seed", 2**32),
                                                       ("prepare", "split_seed", 2**40)])
def test_seeds_must_fit_32_bits(section, key, value):
    with pytest.raises(ParamsError, match=f"{section}.{key} must be an integer in 0-4294967295"):
        parse_params(small_params(**{section: {key: value}}))


def test_dotted_overrides_are_validated_like_params_yaml():
    assert apply_overrides(small_params(), {"model.mlp.units": 128}).model.mlp.units == 128
    with pytest.raises(ParamsError, match="unknown param 'train.unit'"):
        apply_overrides(small_params(), {"train.unit": 128})
    assert apply_overrides(small_params(), {"model.arch": "cnn", "model.cnn.filters": 8}).model.cnn.filters == 8
    with pytest.raises(ParamsError, match="model.cnn.filters does not apply to model.arch mlp"):
        apply_overrides(small_params(), {"model.cnn.filters": 8})
    with pytest.raises(ParamsError, match="unknown param 'model.cnn'"):
        apply_overrides(small_params(), {"model.cnn": 8})


def test_a_float_written_without_a_dot_is_a_number(tmp_path):
    """YAML 1.1 reads `1e-4` as a string; params.yaml reads it as DVC does, as a number."""
    path = tmp_path / "params.yaml"
    path.write_text("learning_rate: 1e-4\nsmall: 5E+2\nword: e5\ndotted: 1.0e-3\nversion: 1.2.3\n")
    assert read_yaml(path) == {"learning_rate": 1e-4, "small": 500.0, "word": "e5", "dotted": 1e-3,
                               "version": "1.2.3"}
