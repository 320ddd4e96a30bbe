"""Config loading (defaults <- preset <- TOML <- --set overrides) and refusal of every bad value."""

from __future__ import annotations

import math
import re
import warnings
from pathlib import Path
from typing import Any

import pytest

from blueprint.config import PRESETS, Config, ConfigError, as_dict, departures, load_config, parse_override
from blueprint.errors import BlueprintError


# --------------------------------------------------------------------------------------------
# Defaults and presets
# --------------------------------------------------------------------------------------------

DESIGN_DEFAULTS = dict(beta=0.05, gamma=1.0, lam=0.95, eps=0.2, eps_v=0.2, vf_coef=0.1, tau=1.0, whiten_eps=1e-8)


@pytest.mark.parametrize(("key", "value"), sorted(DESIGN_DEFAULTS.items()))
def test_defaults_match_design(key: str, value: float) -> None:
    """docs/design.md §4: k1 in the reward, β=0.05, γ=1, λ=0.95, ε=0.2, ε_v=0.2, vf_coef=0.1, τ=1, 1e-8 whitening."""
    assert getattr(load_config(), key) == value
    assert getattr(Config(), key) == value


def test_default_conventions() -> None:
    c = load_config()
    assert c.kl_estimator == "k1"
    assert c.ent_coef == 0.0  # entropy is a diagnostic only
    assert c.preset == "small"
    assert c.eos in c.vocab and c.vocab[c.eos_id] == c.eos
    assert c == Config()  # the small preset is the dataclass defaults


def _dims(c: Config) -> tuple[int, ...]:
    return (c.B, c.P, c.T, c.H, c.V)


def test_presets_exist_and_grow() -> None:
    assert set(PRESETS) >= {"small", "medium", "large"}
    small, medium, large = (load_config(preset=p) for p in ("small", "medium", "large"))
    assert (small.preset, medium.preset, large.preset) == ("small", "medium", "large")
    for a, b in ((small, medium), (medium, large)):
        assert all(x < y for x, y in zip(_dims(a), _dims(b))), f"{a.preset} {_dims(a)} -> {b.preset} {_dims(b)} must grow in every dimension"
        assert math.prod(_dims(a)) < math.prod(_dims(b))


@pytest.mark.parametrize("preset", ["small", "medium", "large"])
def test_presets_keep_design_hyperparameters(preset: str) -> None:
    c = load_config(preset=preset)
    for key, value in DESIGN_DEFAULTS.items():
        assert getattr(c, key) == value, f"preset {preset} changed {key}"


# --------------------------------------------------------------------------------------------
# Resolution order: preset <- TOML <- overrides <- keyword values
# --------------------------------------------------------------------------------------------


def _toml(tmp_path: Path, text: str, name: str = "c.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_toml_overrides_preset_and_set_overrides_toml(tmp_path: Path) -> None:
    path = _toml(tmp_path, "gamma = 0.9\nlam = 0.8\nB = 3\nvocab = [\"x\", \"y\", \"<eos>\"]\n")
    c = load_config(preset="medium", toml_path=path, overrides=["gamma=0.99", "seed=7"])
    assert c.gamma == 0.99  # --set beats the TOML file
    assert c.lam == 0.8 and c.B == 3  # the TOML file beats the preset
    assert c.vocab == ("x", "y", "<eos>") and isinstance(c.vocab, tuple)
    assert c.seed == 7
    assert c.T == PRESETS["medium"]["T"]  # untouched keys keep the preset's value
    assert c.preset == "medium"


def test_keyword_values_beat_overrides(tmp_path: Path) -> None:
    c = load_config(toml_path=_toml(tmp_path, "beta = 0.2\n"), overrides=["beta=0.3"], beta=0.4)
    assert c.beta == 0.4


def test_later_override_wins() -> None:
    assert load_config(overrides=["lam=0.5", "lam=0.7"]).lam == 0.7


def test_toml_blueprint_table_and_int_to_float(tmp_path: Path) -> None:
    c = load_config(toml_path=_toml(tmp_path, "[blueprint]\ngamma = 1\ntau = 2\nbeta = 0\n"))
    assert (c.gamma, c.tau, c.beta) == (1.0, 2.0, 0.0)
    assert all(isinstance(v, float) for v in (c.gamma, c.tau, c.beta))


def test_parse_override_values() -> None:
    assert parse_override("gamma=0.99") == ("gamma", 0.99)
    assert parse_override(" lam = 1 ") == ("lam", 1.0)
    assert parse_override('vocab=["x","y","<eos>"]') == ("vocab", ("x", "y", "<eos>"))
    assert parse_override("eos=<end>") == ("eos", "<end>")  # a bare word is a string
    assert parse_override("kl_estimator=k3") == ("kl_estimator", "k3")


def test_as_dict_round_trip() -> None:
    c = load_config(preset="medium", seed=3)
    d = as_dict(c)
    assert d["vocab"] == list(c.vocab)
    assert Config(**{k: tuple(v) if isinstance(v, list) else v for k, v in d.items()}) == c


def test_replace_is_validated() -> None:
    c = load_config()
    assert c.replace(gamma=0.5).gamma == 0.5
    with pytest.raises(ConfigError, match="gamma"):
        c.replace(gamma=2.0)


# --------------------------------------------------------------------------------------------
# Refusals: every bad value raises ConfigError naming the key and the value, on one line
# --------------------------------------------------------------------------------------------

# (id, load_config kwargs, key the message must name, regex for the value in the message)
BAD: list[tuple[str, dict[str, Any], str, str]] = [
    ("gamma>1", dict(gamma=1.5), "gamma", r"1\.5"),
    ("gamma>1-set", dict(overrides=["gamma=1.5"]), "gamma", r"1\.5"),
    ("lam<0", dict(lam=-0.1), "lam", r"-0\.1"),
    ("lam<0-set", dict(overrides=["lam=-0.1"]), "lam", r"-0\.1"),
    ("eps=0", dict(eps=0), "eps", r"= 0(\.0)?:"),
    ("eps=1", dict(eps=1), "eps", r"= 1(\.0)?:"),
    ("eps=1-set", dict(overrides=["eps=1"]), "eps", r"= 1(\.0)?:"),
    ("V<2", dict(vocab=["x"]), "vocab", r"\['x'\]"),
    ("vocab-duplicate", dict(vocab=["a", "b", "a", "<eos>"]), "vocab", r"'a', 'b', 'a'"),
    ("vocab-duplicate-case", dict(vocab=["a", "A", "<eos>"]), "vocab", r"'a', 'A'"),
    ("vocab-star", dict(vocab=["a", "b*", "<eos>"]), "vocab", r"b\*"),
    ("vocab-question", dict(vocab=["a", "b?", "<eos>"]), "vocab", r"b\?"),
    ("vocab-blank", dict(vocab=["a", " ", "<eos>"]), "vocab", r"' '"),
    ("eos-not-in-vocab", dict(eos="<end>"), "eos", r"<end>"),
    ("eos-not-in-vocab-set", dict(overrides=["eos=<end>"]), "eos", r"<end>"),
    ("B-str", dict(B="two"), "B", r"two"),
    ("B-str-set", dict(overrides=["B=two"]), "B", r"two"),
    ("B-float", dict(B=2.5), "B", r"2\.5"),
    ("B-float-set", dict(overrides=["B=2.5"]), "B", r"2\.5"),
    ("B-zero", dict(B=0), "B", r"= 0:"),
    ("gamma-bool", dict(gamma=True), "gamma", r"(?i)true"),
    ("gamma-bool-set", dict(overrides=["gamma=true"]), "gamma", r"(?i)true"),
    ("tau=0", dict(tau=0), "tau", r"= 0(\.0)?:"),
    ("tau<0-set", dict(overrides=["tau=-1"]), "tau", r"-1"),
    ("gamma-nan", dict(gamma=float("nan")), "gamma", r"nan"),
    ("beta-nan-set", dict(overrides=["beta=nan"]), "beta", r"nan"),
    ("beta-inf-set", dict(overrides=["beta=inf"]), "beta", r"inf"),
    ("beta<0", dict(beta=-0.01), "beta", r"-0\.01"),
    ("seed<0", dict(seed=-1), "seed", r"-1"),
    ("kl_estimator", dict(kl_estimator="k4"), "kl_estimator", r"k4"),
    ("H-too-big", dict(H=33), "H", r"33"),
    ("beta-too-big", dict(beta=1e7), "beta", r"10000000\.0"),
    ("missing_eos_penalty-1e300-set", dict(overrides=["missing_eos_penalty=1e300"]), "missing_eos_penalty", r"1e\+300"),
    ("dual_clip=1", dict(dual_clip=1.0), "dual_clip", r"= 1\.0:"),
    ("vocab-control", dict(vocab=["a\x01", "b", "<eos>"]), "vocab", r"'a\\x01'"),
    ("vocab-newline", dict(vocab=["a\nb", "b", "<eos>"]), "vocab", r"'a\\nb'"),
    ("vocab-tab", dict(vocab=["a\tb", "b", "<eos>"]), "vocab", r"'a\\tb'"),
    ("vocab-zero-width", dict(vocab=["a\u200b", "b", "<eos>"]), "vocab", r"'a\\u200b'"),
    ("vocab-apostrophe", dict(vocab=["'a", "b", "<eos>"]), "vocab", r"\"'a\""),
    ("vocab-xml-escape", dict(vocab=["_x0041_", "b", "<eos>"]), "vocab", r"'_x0041_'"),
    ("vocab-too-long", dict(vocab=["a" * 17, "b", "<eos>"]), "vocab", r"a{17}"),
    ("convention-unknown-set", dict(overrides=["convention=trlx"]), "convention", r"trlx"),
    ("preset-unknown-set", dict(overrides=["preset=huge"]), "preset", r"huge"),
]


@pytest.mark.parametrize(("kwargs", "key", "value_re"), [pytest.param(k, key, v, id=i) for i, k, key, v in BAD])
def test_bad_value_refused(kwargs: dict[str, Any], key: str, value_re: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(**kwargs)
    msg = str(info.value)
    assert re.search(rf"\b{re.escape(key)}\b", msg), f"message does not name the key {key!r}: {msg}"
    assert re.search(value_re, msg), f"message does not show the value /{value_re}/: {msg}"
    assert "\n" not in msg, f"message is not one line: {msg!r}"


def test_config_error_is_a_user_error() -> None:
    assert issubclass(ConfigError, BlueprintError)
    assert ConfigError.exit_code == 2


def test_unknown_key_refused() -> None:
    for call in (lambda: load_config(colour="red"), lambda: load_config(overrides=["colour=red"])):
        with pytest.raises(ConfigError) as info:
            call()
        msg = str(info.value)
        assert "colour" in msg and "gamma" in msg  # names the bad key and lists the known ones
        assert "\n" not in msg


def test_unknown_key_in_toml_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="colour"):
        load_config(toml_path=_toml(tmp_path, 'colour = "red"\n'))


def test_unknown_preset_refused() -> None:
    with pytest.raises(ConfigError, match="huge"):
        load_config(preset="huge")


def test_bad_toml_file_refused(tmp_path: Path) -> None:
    path = _toml(tmp_path, "gamma = = 1\n", name="broken.toml")
    with pytest.raises(ConfigError) as info:
        load_config(toml_path=path)
    msg = str(info.value)
    assert "broken.toml" in msg and "TOML" in msg
    assert "\n" not in msg


def test_non_utf8_toml_refused(tmp_path: Path) -> None:
    path = tmp_path / "latin1.toml"
    path.write_bytes('eos = "\xe9"\n'.encode("latin-1"))
    with pytest.raises(ConfigError, match="latin1.toml"):
        load_config(toml_path=path)


def test_bad_value_in_toml_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"gamma.*1\.5"):
        load_config(toml_path=_toml(tmp_path, "gamma = 1.5\n"))


def test_missing_toml_file_refused(tmp_path: Path) -> None:
    path = tmp_path / "nowhere.toml"
    with pytest.raises(ConfigError) as info:
        load_config(toml_path=path)
    assert "nowhere.toml" in str(info.value) and "not found" in str(info.value)


@pytest.mark.parametrize("text", ["gamma", "", "=0.5", "gamma 0.5"])
def test_set_without_equals_refused(text: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(overrides=[text])
    msg = str(info.value)
    assert "KEY=VALUE" in msg and repr(text) in msg


# --------------------------------------------------------------------------------------------
# preset and convention: applied wherever they are given, refused when given twice differently
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("where", ["toml", "set", "argument"])
def test_preset_and_convention_apply_from_any_source(tmp_path: Path, where: str) -> None:
    """`preset = "large"` in a file, `--set convention=verl`: the numbers are those of --preset / --convention."""
    kwargs: dict[str, Any] = {
        "toml": dict(toml_path=_toml(tmp_path, 'preset = "large"\nconvention = "verl"\n')),
        "set": dict(overrides=["preset=large", "convention=verl"]),
        "argument": dict(preset="large", convention="verl"),
    }[where]
    c = load_config(**kwargs)
    assert (c.preset, c.convention) == ("large", "verl")
    assert (c.B, c.T, c.V) == (8, 16, 12)
    assert (c.beta, c.kl_placement, c.dual_clip, c.lam, c.eps_v) == (0.001, "none", 3.0, 1.0, 0.5)
    assert departures(c) == []


def test_a_key_in_the_toml_file_beats_the_convention_it_names(tmp_path: Path) -> None:
    c = load_config(toml_path=_toml(tmp_path, 'convention = "verl"\nbeta = 0.5\n'))
    assert (c.convention, c.beta, c.dual_clip) == ("verl", 0.5, 3.0)
    assert departures(c) == ["beta"]


@pytest.mark.parametrize(("kwargs", "shown"), [
    (dict(preset="medium", overrides=["preset=large"]), r"'medium' in the command line and 'large' in --set"),
    (dict(convention="trl", overrides=["convention=verl"]), r"'trl' in the command line and 'verl' in --set"),
    (dict(overrides=["convention=default"], convention="verl"), r"'verl' in the command line and 'default' in --set"),
])
def test_preset_or_convention_given_twice_differently_is_refused(kwargs: dict[str, Any], shown: str) -> None:
    with pytest.raises(ConfigError, match=shown) as info:
        load_config(**kwargs)
    assert "\n" not in str(info.value) and "keep one" in str(info.value)


def test_preset_given_twice_alike_is_fine(tmp_path: Path) -> None:
    assert load_config("large", toml_path=_toml(tmp_path, 'preset = "large"\n'), overrides=["preset=large"]).B == 8


def test_cli_set_convention_writes_the_conventions_numbers_and_labels(tmp_path: Path) -> None:
    """The issue's case: `--set convention=verl` used to change only the Guide's label."""
    import openpyxl

    from blueprint.cli import main
    from blueprint.readback import read_blueprint

    path = tmp_path / "v.xlsx"
    assert main(["generate", "-o", str(path), "--set", "convention=verl", "--set", "beta=0.25"]) == 0
    config, _, _, _ = read_blueprint(path)
    assert (config.beta, config.kl_placement, config.dual_clip, config.logratio_clamp) == (0.25, "none", 3.0, 20.0)
    guide = [c.value for row in openpyxl.load_workbook(path, read_only=True)["Guide"].iter_rows() for c in row if isinstance(c.value, str)]
    assert "Convention: verl (set by hand: beta)" in guide


def test_cli_toml_preset_writes_the_presets_dimensions(tmp_path: Path) -> None:
    from blueprint.cli import main
    from blueprint.readback import read_blueprint

    path = tmp_path / "large.xlsx"
    assert main(["generate", "-o", str(path), "--config", str(_toml(tmp_path, 'preset = "large"\n'))]) == 0
    config, _, _, _ = read_blueprint(path)
    assert (config.B, config.P, config.T, config.V, config.H) == (8, 4, 16, 12, 8)


# --------------------------------------------------------------------------------------------
# Every number finite, or nothing written
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("override", "key", "where"), [
    ("tau=1e-300", "tau", r"KL!B\d+ k2\[0, 0\] inf"),
    ("tau=1e-6", "tau", r"Total!B\d+ total_loss nan"),
])
def test_a_configuration_whose_reference_is_not_finite_is_refused_before_writing(tmp_path: Path, capsys: pytest.CaptureFixture,
                                                                                  override: str, key: str, where: str) -> None:
    from blueprint.cli import main

    path = tmp_path / "never.xlsx"
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a NumPy RuntimeWarning on the way fails the test
        assert main(["generate", "-o", str(path), "--set", override]) == 2
    err = capsys.readouterr().err
    assert re.search(rf"config key '{key}' = [^ ]+ makes {where}: every number of the blueprint must be finite", err), err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert list(tmp_path.iterdir()) == []  # not even a temporary file
