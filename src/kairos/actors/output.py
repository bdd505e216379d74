"""The output role: hands every mesh-state update of its sync inputs to an output adapter."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from kairos.actors._runtime import Actor, ActorContext, Outgoing
from kairos.actors.adapters import (
    AdapterContext,
    OutputAdapter,
    OutputState,
    construct,
    output_adapter,
)
from kairos.actors.spec import ActorProcessSpec
from kairos.errors import ConfigError, WireError
from kairos.records import MeshState, OutputStats
from kairos.wire import Message


class Output(Actor):
    """Acts on the mesh: speaker, display, motor, files or HTTP, through its adapter."""

    def __init__(self, spec: ActorProcessSpec) -> None:
        if not spec.adapter:
            raise ConfigError(f"output {spec.name!r} needs an adapter")
        self.spec = spec
        self.adapter: OutputAdapter | None = None
        self.writes = 0

    def setup(self, context: ActorContext) -> None:
        cls = output_adapter(self.spec.adapter or "")
        self.adapter = construct(
            f"output adapter {self.spec.adapter!r}",
            lambda: cls(self.spec.params, AdapterContext(self.spec.name, context.work_dir)),
        )

    def update(self, now_ns: int, inputs: Sequence[Message]) -> Iterable[Outgoing]:
        assert self.adapter is not None  # set in setup(); update is never called before
        for message in inputs:
            if not message.is_record:
                continue
            try:
                state = MeshState.decode(message.data, message.stream)
            except WireError:
                continue  # not a mesh state: nothing to act on
            self.adapter.write(
                OutputState(
                    source=message.stream,
                    t_ns=state.t_ns,
                    phasor=state.phasor,
                    coherence=state.global_coherence,
                    phase=state.mesh_phase,
                    active=state.emerged,
                )
            )
            self.writes += 1
        return ()

    def teardown(self) -> None:
        if self.adapter is not None:
            self.adapter.close()

    def witness(self) -> dict[str, Any]:
        return OutputStats(self.writes, self.spec.adapter or "").encode()
