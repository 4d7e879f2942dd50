"""The agent registry: built-in agents join where they are defined, installed packages through the entry-point group
``rl_lightning.agents``, class paths keep working, and every mistake is named with what is valid. Also: the agent
package stands alone (it imports nothing of the module or the trainer) and the context is all an agent receives."""

import os
import subprocess
import sys

import gymnasium as gym
import numpy as np
import pytest
import torch
from agent_helpers import bare_loop, make_cartpole

import rl_lightning
from rl_lightning.agents import (A2C, DQN, PPO, SAC, TD3, AgentContext, LightningAgent, RandomAgent, register_agent,
                                 registered_agents, resolve_agent, unregister_agent)
from rl_lightning.agents.config import resolve_agent_class

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(rl_lightning.__file__)))


def test_built_in_agents_are_registered_where_they_are_defined():
    agents = registered_agents()
    assert {name: agents[name] for name in ("A2C", "DQN", "PPO", "RandomAgent", "SAC", "TD3")} == {
        "A2C": A2C, "DQN": DQN, "PPO": PPO, "RandomAgent": RandomAgent, "SAC": SAC, "TD3": TD3}
    assert resolve_agent("TD3") is TD3 and resolve_agent(A2C) is A2C


@pytest.mark.parametrize("path", ["rl_lightning.agents.ppo.PPO", "rl_lightning.agents.ppo:PPO",
                                  "rl_lightning.agents.PPO"])
def test_class_paths_keep_working(path):
    assert resolve_agent(path) is PPO
    assert resolve_agent_class(path) is PPO


def test_an_unknown_name_lists_the_nearest_registered_names():
    with pytest.raises(ValueError, match=r"agent='TD4' is not a registered agent \(nearest: 'TD3'\); registered "
                                         r"agents: A2C, DQN, PPO, RandomAgent, SAC, TD3\. Or give a class path"):
        resolve_agent("TD4")
    with pytest.raises(ValueError, match=r"agent='ppo' is not a registered agent \(nearest: 'PPO'"):
        resolve_agent("ppo")


def test_a_bad_class_path_names_what_is_missing():
    with pytest.raises(ValueError, match=r"agent='rl_lightning.agents.ppo.PPO2': module 'rl_lightning.agents.ppo' "
                                         r"has no 'PPO2'; its classes are: .*PPO, PPOParams"):
        resolve_agent("rl_lightning.agents.ppo.PPO2")
    with pytest.raises(ValueError, match=r"agent='no_such_package.agents.Agent': cannot import module "
                                         r"'no_such_package.agents' \(No module named 'no_such_package'\)"):
        resolve_agent("no_such_package.agents.Agent")
    with pytest.raises(TypeError, match=r"agent='rl_lightning.agents.ppo.PPOParams' has no for_env"):
        resolve_agent("rl_lightning.agents.ppo.PPOParams", needs=("for_env",))
    with pytest.raises(ValueError, match=r"has no for_env"):  # configs and the CLI catch ValueError
        resolve_agent_class("rl_lightning.agents.ppo.PPOParams")


class _Baseline(RandomAgent):
    """A registered test agent (a RandomAgent under another name)."""


class _OtherBaseline(RandomAgent):
    pass


def test_registering_through_the_public_api_and_two_agents_on_one_name():
    register_agent(_Baseline, name="TestBaseline")
    try:
        assert resolve_agent("TestBaseline") is _Baseline and "TestBaseline" in registered_agents()
        register_agent(_Baseline, name="TestBaseline")  # the same class again: no conflict
        with pytest.raises(ValueError, match=r"agent name 'TestBaseline' is registered twice: by "
                                             r".*_Baseline and by .*_OtherBaseline"):
            register_agent(_OtherBaseline, name="TestBaseline")
        with pytest.raises(ValueError, match=r"agent name 'PPO' is registered twice: by rl_lightning.agents.ppo.PPO "
                                             r"and by .*_OtherBaseline"):
            register_agent(name="PPO")(_OtherBaseline)
    finally:
        unregister_agent("TestBaseline")
    assert "TestBaseline" not in registered_agents() and resolve_agent("PPO") is PPO
    with pytest.raises(ValueError, match=r"agent name 'my.agent' is not allowed"):
        register_agent(_Baseline, name="my.agent")


def test_an_agent_class_missing_methods_is_refused_naming_every_one():
    class Half(LightningAgent):
        def act(self, observation, greedy=False):
            return np.zeros(len(observation), dtype=np.int64)

    with pytest.raises(TypeError, match=r"Half does not implement reset_parameters, update; every agent derived from "
                                        r"LightningAgent must"):
        Half(gym.spaces.Box(-1, 1, (2,)), gym.spaces.Discrete(2))
    with pytest.raises(TypeError, match=r"register_agent: .*Half is missing the method\(s\) reset_parameters, update"):
        register_agent(Half)

    class Plain:
        def act(self, observation):
            return 0

    with pytest.raises(TypeError, match=r"Plain is missing the method\(s\) for_env, update, reset, set_num_env, save, "
                                        r"load that every agent needs"):
        register_agent(Plain)


def test_installed_packages_join_through_the_entry_point_group(tmp_path, monkeypatch):
    """A package installed with ``[project.entry-points."rl_lightning.agents"]`` (here: its dist-info on sys.path)."""
    package = tmp_path / "fake_rl_plugin"
    package.mkdir()
    (package / "__init__.py").write_text("from rl_lightning.agents import RandomAgent\n\n\n"
                                         "class PluginAgent(RandomAgent):\n    pass\n")
    info = tmp_path / "fake_rl_plugin-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: fake-rl-plugin\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[rl_lightning.agents]\nPluginAgent = fake_rl_plugin:PluginAgent\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        with pytest.raises(ValueError, match=r"agent='PluginAgen' is not a registered agent \(nearest: 'PluginAgent'"):
            resolve_agent("PluginAgen")  # its name is listed, its module not imported yet
        assert "fake_rl_plugin" not in sys.modules
        plugin = resolve_agent("PluginAgent")
        assert plugin.__module__ == "fake_rl_plugin" and registered_agents()["PluginAgent"] is plugin

        (info / "entry_points.txt").write_text("[rl_lightning.agents]\nPPO = fake_rl_plugin:PluginAgent\n")
        with pytest.raises(ValueError, match=r"agent name 'PPO' is registered twice: by rl_lightning.agents.ppo.PPO "
                                             r"and by fake_rl_plugin.PluginAgent \(entry point PPO"):
            registered_agents()
    finally:
        try:
            unregister_agent("PluginAgent")
        except KeyError:
            pass
        sys.modules.pop("fake_rl_plugin", None)


def test_importing_the_agents_imports_nothing_of_the_module_or_the_trainer():
    script = ("import sys, rl_lightning.agents as agents; agents.registered_agents(); print([m for m in "
              "('rl_lightning.module', 'rl_lightning.trainer', 'rl_lightning.cli') if m in sys.modules])")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, cwd=ROOT,
                            check=False)
    assert result.returncode == 0 and result.stdout.strip() == "[]", result.stdout + result.stderr


def test_the_context_is_what_an_agent_learns_in():
    """Schedules read the context's horizon and world size; gradient steps go through its callables while it
    says the trainer is fitting, and through the agent's own optimizer otherwise."""
    env = make_cartpole(2)()
    agent = PPO.for_env(env, n_steps=4, batch_size=8, n_epochs=1, learning_rate=1e-3, learning_rate_schedule="linear")
    with pytest.raises(ValueError, match="schedules need a horizon"):
        bare_loop(agent, env, 4)
    agent.attach(AgentContext(total_steps=64, world_size=2))
    bare_loop(agent, env, 4)  # 8 env steps on each of 2 ranks: a quarter of the horizon
    assert agent.optimizer.param_groups[0]["lr"] == pytest.approx(0.75e-3)

    calls = []

    class Wrapped:
        def step(self):
            calls.append("step")

    fitting = [True]
    agent.attach(AgentContext(total_steps=64, optimizers=[Wrapped()], is_fitting=lambda: fitting[0],
                              backward=lambda loss: calls.append("backward") or loss.backward(),
                              clip_gradients=lambda optimizer, norm: calls.append(f"clip {norm}")))
    agent.reset(0)
    before = agent.weights()
    bare_loop(agent, env, 4)  # from reset(0) again: one gradient step, through the context
    assert calls == ["backward", "clip 0.5", "step"] and all(torch.equal(v, before[k]) for k, v in
                                                            agent.weights().items())  # the wrapper did not step
    fitting[0] = False
    bare_loop(agent, env, 4)
    assert len(calls) == 3 and any(not torch.equal(v, before[k]) for k, v in agent.weights().items())
    agent.detach()
    assert agent.context == AgentContext()
    with pytest.raises(RuntimeError, match="the trainer has 2 optimizer"):
        agent.attach(AgentContext(optimizers=[Wrapped(), Wrapped()]))
    with pytest.raises(ValueError, match=r"AgentContext.world_size=0"):
        AgentContext(world_size=0)
