"""tfprune.app.flags: one frozen dataclass per command, its fields exactly the command's flags."""

import dataclasses

import click
import pytest

from tfprune.app import cli, flags


@pytest.mark.parametrize("command, cls", [(cli.export, flags.ExportFlags),
                                          (cli.shrink, flags.ShrinkFlags),
                                          (cli.sensitivity, flags.SensitivityFlags)])
def test_each_flag_is_a_field_and_each_default_the_command_lines(command, cls):
    options = [p for p in command.params if p.name != "model"]
    fields = {f.name: f for f in dataclasses.fields(cls)}
    assert {p.name for p in options} == set(fields)
    ctx = click.Context(command)
    for p in options:
        default = fields[p.name].default
        if not p.required and default is not dataclasses.MISSING:
            assert default == (() if p.multiple else p.get_default(ctx)), p.name


def test_flags_are_frozen_and_micro_keeps_what_was_given():
    f = flags.ExportFlags(out="mcu", fmt="micro", arena=4096)
    with pytest.raises(dataclasses.FrozenInstanceError):
        f.out = "x"
    assert f.micro == {"arena": 4096}
    assert flags.ExportFlags(out="m.tflite").micro == {}
