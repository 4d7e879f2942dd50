"""What every registered agent promises, run over the registry (built-in agents, any installed package's, and a
test-local one registered through the public API): the seed protocol under OnlineTrainer, save → load → same
greedy actions; and for learning agents: greedy evaluation without updates, learning through Lightning equal to
learning alone, a state_dict that continues a run exactly, and checked hyperparameters."""

import copy
import io
from dataclasses import dataclass

import gymnasium as gym
import lightning.pytorch as pl
import numpy as np
import pytest
import torch
from agent_helpers import TargetEnv, bare_loop, make_cartpole, make_target_env, reset_env
from torch import nn

from rl_lightning import AgentModule, EmptyCallBack, OnlineTrainer
from rl_lightning.agents import (DQN, PPO, SAC, DQNParams, LightningAgent, Params, PPOParams, SACParams,
                                 register_agent, registered_agents, resolve_agent, unregister_agent)
from rl_lightning.testing import CountingEnv


# ---------------------------------------------------------------------------------------------- a test-local agent
@dataclass(frozen=True)
class OneStepParams(Params):
    learning_rate: float = 1e-2
    gamma: float = 0.99


class OneStepActorCritic(LightningAgent):
    """A one-step actor-critic written against the public API only, as a user writes one."""

    params_class = OneStepParams
    lockstep_updates = True

    def __init__(self, observation_space, action_space, params=None, num_envs=1, **hp):
        super().__init__(observation_space, action_space, params, num_envs, **hp)
        self.body = nn.Sequential(nn.Linear(observation_space.shape[0], 16), nn.Tanh())
        self.policy = nn.Linear(16, int(action_space.n))
        self.value = nn.Linear(16, 1)
        self.optimizer = torch.optim.Adam(self.parameters(), lr=self.params.learning_rate)
        self.optimizer_list = [self.optimizer]
        self.reset(0)

    def reset_parameters(self, generator):
        for layer in (self.body[0], self.policy, self.value):
            nn.init.orthogonal_(layer.weight, generator=generator)
            nn.init.zeros_(layer.bias)

    def act(self, observation, greedy=False):
        obs = self.obs_tensor(observation)
        with torch.no_grad():
            logits = self.policy(self.body(obs))
        if greedy or not self.training:
            return logits.argmax(-1).numpy()
        actions = torch.multinomial(logits.softmax(-1), 1, generator=self.rng).squeeze(-1)
        self.last = (obs, actions)
        return actions.numpy()

    def update(self, next_observation, reward, terminated, truncated, call_back=None):
        if not self.training:
            return
        real = torch.from_numpy(self.count_step(terminated, truncated)).float()
        obs, actions = self.last
        with torch.no_grad():
            next_value = self.value(self.body(self.obs_tensor(next_observation))).squeeze(-1)
            target = torch.as_tensor(reward).float() + self.params.gamma * (1 - torch.as_tensor(terminated).float()) \
                * next_value
        hidden = self.body(obs)
        value = self.value(hidden).squeeze(-1)
        log_prob = torch.log_softmax(self.policy(hidden), -1).gather(-1, actions.unsqueeze(-1)).squeeze(-1)
        loss = ((-log_prob * (target - value).detach() + (target - value) ** 2) * real).mean()
        self.gradient_step(self.optimizer, loss, max_grad_norm=1.0)


LOCAL = "ContractOneStepActorCritic"


@pytest.fixture(autouse=True, scope="module")
def local_agent_registered():
    register_agent(OneStepActorCritic, name=LOCAL)
    yield
    unregister_agent(LOCAL)


# ---------------------------------------------------------------------------------------------- cases
# Small, fast settings per registered name: (variant, make_env, hyperparameters, total_steps). A registered agent
# without settings here (an installed package's) runs with its defaults on CartPole or a continuous target.
SETTINGS = {
    "PPO": [("discrete", make_cartpole(4), dict(n_steps=16, batch_size=32, n_epochs=2), 640),
            ("continuous", make_target_env(2), dict(n_steps=16, batch_size=16, n_epochs=2), 320)],
    "A2C": [("discrete", make_cartpole(4), dict(n_steps=5), 640),
            ("continuous", make_target_env(2), dict(n_steps=8), 320)],
    "DQN": [("", make_cartpole(2), dict(learning_starts=64, batch_size=16, net_arch=(16,), anneal_steps=400), 400)],
    "SAC": [("", make_target_env(2), dict(learning_starts=32, batch_size=16, net_arch=(16,)), 200)],
    "TD3": [("", make_target_env(2), dict(learning_starts=32, batch_size=16, net_arch=(16,)), 200)],
    "RandomAgent": [("", make_cartpole(2), {}, 400)],
    LOCAL: [("", make_cartpole(2), {}, 200)],
}


def _default_settings(cls):
    for make_env in (make_cartpole(2), make_target_env(2)):
        try:
            cls.for_env(make_env())
        except (TypeError, ValueError):
            continue
        return [("", make_env, {}, 256)]
    return []


NAMES = sorted(set(registered_agents()) | {LOCAL})
CASES = [pytest.param(name, make_env, hp, steps, id=f"{name}-{variant}" if variant else name)
         for name in NAMES for variant, make_env, hp, steps in SETTINGS.get(name) or
         _default_settings(registered_agents()[name])]
LEARNING = [case for case in CASES if case.values[0] == LOCAL or issubclass(registered_agents()[case.values[0]],
                                                                            LightningAgent)]


def _factory(name, hp):
    cls = resolve_agent(name)  # through the registry, as configs and the CLI do
    return lambda env: cls.for_env(env, **hp)


def _observations(make_env, n=16):
    env = make_env()
    space = gym.vector.utils.batch_space(env.single_observation_space, n)
    space.seed(7)
    return np.clip(space.sample(), -2, 2).astype(np.float32)


def test_the_contract_covers_every_registered_agent():
    covered = {case.values[0] for case in CASES}
    assert covered == set(registered_agents()) and LOCAL in covered
    assert {"PPO", "A2C", "DQN", "SAC", "TD3", "RandomAgent"} <= covered


@pytest.mark.parametrize("name, make_env, hp, total_steps", CASES)
def test_save_then_load_gives_the_same_greedy_actions(tmp_path, name, make_env, hp, total_steps):
    trainer = OnlineTrainer(make_env, _factory(name, hp), exp_dir=tmp_path, progress=False)
    trainer.call_back = EmptyCallBack()
    trainer.multi_run(1, total_steps=total_steps, seed_offset=0, checkpoint_freq=0, dump_metrics=False)
    trained = trainer.agent
    loaded = type(trained).load(str(tmp_path / "Run1_Last_agent.t"))
    assert loaded is not trained and getattr(loaded, "params", None) == getattr(trained, "params", None)
    trained.eval()
    loaded.eval()
    obs = _observations(make_env, n=trained.num_envs)
    np.testing.assert_array_equal(loaded.act(obs), trained.act(obs))
    best = type(trained).load(None, checkpoint=torch.load(tmp_path / "Run1_Best_agent.t", weights_only=True))
    assert best.act(obs).shape == trained.act(obs).shape


@pytest.mark.parametrize("name, make_env, hp, total_steps", LEARNING)
def test_evaluation_acts_greedily_and_never_learns(name, make_env, hp, total_steps):
    agent = _factory(name, hp)(make_env())
    before = agent.weights()
    trainer = OnlineTrainer(make_env, agent, train=False, progress=False)  # an instance is reused as it is
    trainer.call_back = EmptyCallBack()
    episodes = trainer.multi_run(1, num_episodes=4, seed_offset=0, dump_metrics=False, keep_metrics_in_memory=True)[0]
    assert trainer.agent is agent and not agent.training and agent.env_steps == 0
    for key, value in agent.weights().items():
        torch.testing.assert_close(value, before[key], rtol=0, atol=0)
    obs = _observations(make_env, n=1)
    agent.set_num_env(1)
    assert all(np.array_equal(agent.act(obs), agent.act(obs)) for _ in range(3))  # greedy: deterministic
    assert len(episodes) >= 4


@pytest.mark.parametrize("name, make_env, hp, total_steps", LEARNING)
def test_learning_through_lightning_equals_learning_alone(name, make_env, hp, total_steps):
    """The same run twice: once fitted by Lightning (backward and optimizer steps through the module), once by a
    bare loop (the agent's own backward and steps). Same seeds, so the same episodes and the same weights."""
    make_agent = _factory(name, hp)
    agent = make_agent(make_env())
    module = AgentModule(agent, make_env, total_steps=total_steps, seed=3, keep_metrics_in_memory=True)
    trainer = pl.Trainer(accelerator="cpu", max_epochs=1, logger=False, enable_checkpointing=False,
                         enable_model_summary=False, enable_progress_bar=False)
    trainer.fit(module)
    assert trainer.global_step > 0  # optimizer steps went through Lightning's optimizers
    alone = make_agent(make_env())
    bare_loop(alone, make_env(), total_steps // agent.num_envs, seed=3)
    assert alone.env_steps == agent.env_steps == total_steps
    for key, value in alone.weights().items():
        torch.testing.assert_close(value, agent.weights()[key], rtol=0, atol=0, msg=key)


@pytest.mark.parametrize("name, make_env, hp, total_steps", LEARNING)
def test_the_state_dict_carries_the_training_state_so_a_copy_continues_identically(name, make_env, hp, total_steps):
    """What a Lightning checkpoint restores (weights, optimizer state and the agent's extra state: counters,
    generator, rollout or replay buffer) continues the run exactly; it loads with ``weights_only``."""

    def run(agent, env, obs, vector_steps):
        for _ in range(vector_steps):
            next_obs, reward, terminated, truncated, _ = env.step(agent.act(obs))
            agent.update(next_obs, reward, terminated, truncated)
            obs = next_obs
        return obs

    make_agent = _factory(name, hp)
    env = make_env()
    agent = make_agent(env)
    agent.reset(5)
    agent.set_num_env(env.num_envs)
    half = total_steps // (2 * env.num_envs) + 3  # mid-rollout, mid-episode
    obs = run(agent, env, reset_env(env, 5), half)
    file = io.BytesIO()
    torch.save({"state_dict": agent.state_dict(), "optimizers": [o.state_dict() for o in agent.optimizer_list]}, file)
    file.seek(0)
    saved = torch.load(file, weights_only=True)
    twin = make_agent(make_env())
    twin.load_state_dict(saved["state_dict"])
    for optimizer, state in zip(twin.optimizer_list, saved["optimizers"], strict=True):
        optimizer.load_state_dict(state)
    twin_env, twin_obs = copy.deepcopy(env), obs.copy()
    run(agent, env, obs, half)
    run(twin, twin_env, twin_obs, half)
    assert twin.env_steps == agent.env_steps == 2 * half * env.num_envs
    for key, value in twin.weights().items():
        torch.testing.assert_close(value, agent.weights()[key], rtol=0, atol=0, msg=key)


def test_an_agent_detached_after_a_fit_learns_on_its_own():
    agent = PPO.for_env(make_cartpole(2)(), n_steps=8, batch_size=16, n_epochs=1)
    OnlineTrainer(make_cartpole(2), agent, progress=False).multi_run(1, total_steps=32, seed_offset=0,
                                                                      dump_metrics=False)
    assert not agent.context.fitting  # the fit is over: no trainer to step through
    before = agent.weights()
    env = make_cartpole(2)()
    obs = reset_env(env, 0)
    for _ in range(8):
        next_obs, reward, terminated, truncated, _ = env.step(agent.act(obs))
        agent.update(next_obs, reward, terminated, truncated)
        obs = next_obs
    assert any(not torch.equal(v, before[k]) for k, v in agent.weights().items())


def test_a_loaded_random_agent_continues_the_same_action_stream():
    agent = resolve_agent("RandomAgent")(gym.spaces.Discrete(3), num_envs=4)
    agent.reset(7)
    for _ in range(100):
        agent.act(None)
    loaded = type(agent).load(None, checkpoint=agent.save())  # what a resumed run restores
    # 300 more vector steps cross the boundary of the 256-step block drawn at once.
    assert all(np.array_equal(agent.act(None), loaded.act(None)) for _ in range(300))


def test_random_agent_is_a_random_baseline():
    trainer = OnlineTrainer(make_cartpole(2), resolve_agent("RandomAgent").for_env, progress=False)
    trainer.call_back = EmptyCallBack()
    episodes = trainer.multi_run(1, total_steps=400, seed_offset=0, dump_metrics=False, keep_metrics_in_memory=True)[0]
    assert 10 < np.mean([e["ep_return"] for e in episodes]) < 40


# ---------------------------------------------------------------------------------------------- bad input
@pytest.mark.parametrize("params_class, name, value, valid", [
    (PPOParams, "gamma", 1.5, r"\[0, 1\]"),
    (PPOParams, "clip_range", 0.0, r"\(0, inf\)"),
    (PPOParams, "n_steps", 0, r"\[1, inf\)"),
    (PPOParams, "ent_coef", -0.1, r"\[0, inf\)"),
    (DQNParams, "exploration_final_eps", 2.0, r"\[0, 1\]"),
    (DQNParams, "tau", 0.0, r"\(0, 1\]"),
    (DQNParams, "learning_starts", -1, r"\[0, inf\)"),
    (SACParams, "learning_rate", -1e-3, r"\(0, inf\)"),
    (SACParams, "batch_size", 0, r"\[1, inf\)"),
])
def test_bad_hyperparameters_name_the_parameter_the_value_and_the_valid_range(params_class, name, value, valid):
    with pytest.raises(ValueError, match=rf"{params_class.__name__}\.{name}={value!r} is out of range; "
                                         rf"valid range: {valid}"):
        params_class(**{name: value})


def test_wrong_types_and_unknown_hyperparameters_are_refused():
    with pytest.raises(TypeError, match=r"PPOParams.n_steps must be int, got 32.5"):
        PPOParams(n_steps=32.5)
    with pytest.raises(TypeError, match=r"DQNParams.double_q must be bool, got 'yes'"):
        DQNParams(double_q="yes")
    with pytest.raises(ValueError, match=r"unknown PPOParams key\(s\) 'n_step'; valid keys are: n_steps, "):
        PPO.for_env(make_cartpole(2)(), n_step=32)
    assert PPOParams(net_arch=[32, 32]).net_arch == (32, 32)  # YAML lists become tuples


def test_agents_refuse_spaces_they_cannot_handle():
    with pytest.raises(TypeError, match="DQN needs a Discrete action space"):
        DQN.for_env(make_target_env(1)())
    with pytest.raises(TypeError, match="SAC needs a bounded Box action space"):
        SAC.for_env(make_cartpole(1)())
    with pytest.raises(TypeError, match="TD3 needs a bounded Box action space"):
        resolve_agent("TD3").for_env(make_cartpole(1)())
    with pytest.raises(TypeError, match="needs a Box observation space"):
        PPO(gym.spaces.Discrete(3), gym.spaces.Discrete(2))
    with pytest.raises(TypeError, match="A2C needs a Discrete or Box action space"):
        resolve_agent("A2C")(gym.spaces.Box(-1, 1, (2,)), gym.spaces.MultiBinary(2))


def test_agents_need_next_step_autoreset():
    env = gym.vector.SyncVectorEnv([TargetEnv], autoreset_mode=gym.vector.AutoresetMode.SAME_STEP)
    with pytest.raises(ValueError, match="autoreset_mode=AutoresetMode.NEXT_STEP"):
        SAC.for_env(env)


def test_set_hp_changes_what_it_can_and_refuses_structural_changes():
    agent = DQN.for_env(gym.vector.SyncVectorEnv([lambda: CountingEnv()]), learning_starts=10)
    agent.set_hp({"learning_rate": 5e-4, "gamma": 0.9})
    agent.reset(0)
    assert agent.params.gamma == 0.9 and agent.optimizer.param_groups[0]["lr"] == 5e-4
    with pytest.raises(ValueError, match="set_hp cannot change net_arch"):
        agent.set_hp({"net_arch": [8]})
    with pytest.raises(ValueError, match="DQNParams.gamma=-1"):
        agent.set_hp({"gamma": -1})
    assert copy.deepcopy(agent).params == agent.params


@pytest.mark.parametrize("precision, case", [("bf16-mixed", "PPO-discrete"), ("bf16-mixed", "SAC"),
                                             ("bf16-mixed", "TD3"), ("64-true", "DQN"), ("64-true", "A2C-continuous")])
def test_lightning_precision_plugins_reach_the_agent(precision, case):
    """bf16 autocast (fused Adam clipped under MixedPrecision, bfloat16 outputs to numpy) and float64 weights."""
    name, make_env, hp, total_steps = next(c.values for c in CASES if c.id == case)
    trainer = OnlineTrainer(make_env, _factory(name, hp), progress=False, trainer_kwargs={"precision": precision})
    trainer.call_back = EmptyCallBack()
    trainer.multi_run(1, total_steps=total_steps, seed_offset=0, dump_metrics=False)
    agent = trainer.agent
    assert agent.n_updates > 0
    assert agent.dtype == (torch.float64 if precision == "64-true" else torch.float32)
    agent.eval()
    assert agent.act(_observations(make_env, n=agent.num_envs)).shape[0] == agent.num_envs
