"""A run's meta.json names the CPU that made it (bit-exactness holds per CPU type)."""
from core.runtime.run_directory import base_meta
from core.schema.host import cpu_name


def test_the_cpu_is_the_first_model_name_of_cpuinfo(tmp_path):
    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nvendor_id\t: AuthenticAMD\nmodel name\t: AMD EPYC 7B13\n\n"
                    "processor\t: 1\nmodel name\t: something else\n")
    assert cpu_name(info) == "AMD EPYC 7B13"


def test_without_cpuinfo_the_cpu_is_still_named(tmp_path, monkeypatch):
    monkeypatch.setattr("platform.processor", lambda: "")
    assert cpu_name(tmp_path / "absent") == "unknown CPU"
    monkeypatch.setattr("platform.processor", lambda: "x86_64")
    assert cpu_name(tmp_path / "absent") == "x86_64"


def test_a_runs_meta_names_its_cpu():
    assert base_meta()["cpu"] == cpu_name() != ""
