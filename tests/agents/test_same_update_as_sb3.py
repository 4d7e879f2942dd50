"""Our built-in agents learn exactly as Stable-Baselines3 does: from identical weights and identical data, one
learning phase of ours and one of SB3's leave the same weights (to within 1e-7; measured: 1e-13 or less).

Each test builds our agent with rl-baselines3-zoo's settings (``configs/``) and SB3's model with the same
hyperparameters (as ``benchmarks/agents.py`` maps them), copies our initial weights into SB3's networks, gives
both the same data, runs one learning phase of each and compares every parameter. Our agents are used as they
are (their ``sample_batch`` and SAC's ``_noise`` are only wrapped, to record what they return). SB3's side is
patched only to receive that data: the minibatches, PPO's minibatch order and SAC's reparameterisation noise.

Both sides run in float64 (``agent.double()``; SB3's policy ``.double()``, its observation cast to float32 and
its rollout buffer's float32 arrays bypassed). In float32 the two libraries' equivalent formulas (e.g. log-softmax
against logits minus logsumexp, fused against single-tensor Adam) round differently, by 1 or 2 ulps of a weight
after a PPO update and up to ~1e-6 after 128 DQN steps, where Adam magnifies the rounding of near-zero
gradients; in float64 that noise is ~1e-16, so any difference in the math stands out far above the tolerance.
"""

from __future__ import annotations

from collections.abc import Iterator

import gymnasium as gym
import numpy as np
import pytest
import torch

sb3 = pytest.importorskip("stable_baselines3")

import stable_baselines3.common.policies as sb3_policies
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.logger import configure
from stable_baselines3.common.type_aliases import ReplayBufferSamples
from stable_baselines3.common.vec_env import DummyVecEnv

from rl_lightning.agents import DQN, PPO, SAC

ATOL = 1e-7
SEED = 3


# ---------------------------------------------------------------------------------------------- helpers
@pytest.fixture(autouse=True)
def _one_thread():
    """One intra-op thread: the same reduction order on every machine, and no contention with other jobs."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(autouse=True)
def _sb3_keeps_float64_observations(monkeypatch):
    """SB3's policies cast Box observations to float32 (``preprocess_obs``); here both sides run in float64."""
    monkeypatch.setattr(sb3_policies, "preprocess_obs", lambda obs, space, normalize_images=True: obs)


def sb3_model(algorithm: type, env_id: str, num_envs: int = 1, **kwargs) -> BaseAlgorithm:
    """SB3's ``algorithm`` on ``num_envs`` copies of ``env_id``, on the CPU, in float64, with a silent logger."""
    env = DummyVecEnv([lambda: gym.make(env_id)] * num_envs)
    model = algorithm("MlpPolicy", env, seed=SEED, device="cpu", **kwargs)
    model.policy.double()
    model.set_logger(configure(folder=None, format_strings=[]))
    return model


def linears(module: torch.nn.Module) -> list[torch.nn.Linear]:
    """The ``Linear`` layers of ``module`` in forward order."""
    return [m for m in module.modules() if isinstance(m, torch.nn.Linear)]


def layer_pairs(ours: list[torch.nn.Linear], theirs: list[torch.nn.Linear], name: str) -> list[tuple]:
    """``(name, our parameter, SB3's parameter)`` for the weights and biases of matching layers."""
    assert len(ours) == len(theirs), name
    return [(f"{name}.{k}.{kind}", getattr(a, kind), getattr(b, kind))
            for k, (a, b) in enumerate(zip(ours, theirs)) for kind in ("weight", "bias")]


@torch.no_grad()
def copy_ours_into_sb3(pairs: list[tuple]) -> None:
    """SB3's parameters set to ours, in place (SB3's optimizers keep the same tensors)."""
    for name, ours, theirs in pairs:
        assert ours.numel() == theirs.numel(), name
        theirs.copy_(ours.reshape(theirs.shape))


def max_differences(pairs: list[tuple]) -> dict[str, float]:
    """The largest absolute difference between our parameter and SB3's, per parameter."""
    return {name: float((ours.detach().reshape(theirs.shape) - theirs.detach()).abs().max())
            for name, ours, theirs in pairs}


def assert_same_weights(pairs: list[tuple], initial: dict[str, torch.Tensor]) -> None:
    """Every pair equal to within ``ATOL``, in float64, and the update moved every parameter (by 1e-4 or more here,
    so the check means something)."""
    for name, ours, theirs in pairs:
        assert ours.dtype == theirs.dtype == torch.float64, name
        assert not torch.equal(ours.detach(), initial[name]), f"{name} did not change: the comparison is vacuous"
    for name, ours, theirs in pairs:
        torch.testing.assert_close(ours.detach().reshape(theirs.shape), theirs.detach(), rtol=0, atol=ATOL,
                                   msg=lambda m, name=name: f"{name}: {m}\nall: {max_differences(pairs)}")


def snapshot(pairs: list[tuple]) -> dict[str, torch.Tensor]:
    """Our parameters now (a copy), by name."""
    return {name: ours.detach().clone() for name, ours, _ in pairs}


def record_batches(agent) -> list:
    """Wrap ``agent.sample_batch`` (an instance attribute over the method) to keep every batch it returns."""
    batches, sample = [], agent.sample_batch

    def recording():
        batch = sample()
        batches.append(batch)
        return batch

    agent.sample_batch = recording
    return batches


def replay_to_sb3(model, batches: list) -> None:
    """SB3's ``replay_buffer.sample`` returns our recorded batches, in order, in SB3's layout."""
    queue = iter(batches)

    def sample(batch_size: int, env=None) -> ReplayBufferSamples:
        b = next(queue)
        assert b.observations.shape[0] == batch_size
        actions = b.actions.unsqueeze(-1) if b.actions.dim() == 1 else b.actions
        return ReplayBufferSamples(b.observations, actions, b.next_observations, b.terminated.unsqueeze(-1),
                                   b.rewards.unsqueeze(-1))

    model.replay_buffer.sample = sample


def fill_replay_buffer(agent, size: int, obs_dim: int, actions: np.ndarray, rng: np.random.Generator) -> None:
    """``size`` random transitions (2% terminated) stored through the agent's own buffer."""
    obs = rng.normal(size=(size, obs_dim)).astype(np.float32)
    next_obs = rng.normal(size=(size, obs_dim)).astype(np.float32)
    rewards = rng.normal(size=size).astype(np.float32)
    terminated = (rng.random(size) < 0.02).astype(np.float32)
    agent.buffer.add(obs, actions, rewards, next_obs, terminated, np.ones(size, dtype=bool))


# ---------------------------------------------------------------------------------------------- PPO
PPO_ZOO = {"n_steps": 32, "n_epochs": 20, "gamma": 0.98, "gae_lambda": 0.8, "learning_rate": 1e-3,
           "clip_range": 0.2, "ent_coef": 0.0}
NUM_ENVS = 8
ANNEAL_STEPS = 1024  # the update happens a quarter into the schedules: learning rate 7.5e-4, clip range 0.15


def ppo_pairs(agent: PPO, model) -> list[tuple]:
    """Our actor and critic (net 0 and 1 of the stacked hidden layers, then their heads) against SB3's
    ``mlp_extractor.policy_net + action_net`` and ``mlp_extractor.value_net + value_net``."""
    ours, sb3_policy = agent.policy, model.policy
    pairs = []
    for net, name, head, sb3_layers in (
            (0, "actor", ours.action_head, linears(sb3_policy.mlp_extractor.policy_net) + [sb3_policy.action_net]),
            (1, "critic", ours.value_head, linears(sb3_policy.mlp_extractor.value_net) + [sb3_policy.value_net])):
        layers = [(w[net], b[net, 0]) for w, b in zip(ours.hidden_weights, ours.hidden_biases)]
        layers.append((head.weight, head.bias))
        assert len(layers) == len(sb3_layers), name
        pairs += [(f"{name}.{k}.{kind}", ours_tensor, getattr(theirs, kind))
                  for k, ((weight, bias), theirs) in enumerate(zip(layers, sb3_layers))
                  for kind, ours_tensor in (("weight", weight), ("bias", bias))]
    return pairs


def ppo_update_pairs(batch_size: int) -> tuple[list[tuple], dict]:
    """One PPO update of ours and of SB3's from the same weights and rollout; the parameter pairs, and our
    parameters before the update."""
    spaces = gym.make("CartPole-v1")
    agent = PPO(spaces.observation_space, spaces.action_space, num_envs=NUM_ENVS, batch_size=batch_size,
                learning_rate_schedule="linear", clip_range_schedule="linear", anneal_steps=ANNEAL_STEPS, **PPO_ZOO)
    agent.reset(SEED)
    model = sb3_model(sb3.PPO, "CartPole-v1", NUM_ENVS, batch_size=batch_size,
                      learning_rate=lambda f: PPO_ZOO["learning_rate"] * f,
                      clip_range=lambda f: PPO_ZOO["clip_range"] * f,
                      **{k: v for k, v in PPO_ZOO.items() if k not in ("learning_rate", "clip_range")})
    agent.double()
    pairs = ppo_pairs(agent, model)
    copy_ours_into_sb3(pairs)
    initial = snapshot(pairs)

    # A rollout of random data; some sub-envs terminate (never truncate), and a terminated episode's successor is
    # a real step in ours as in SB3 (SB3's same-step reset), so both see the same transitions.
    steps, rng = PPO_ZOO["n_steps"], np.random.default_rng(SEED)
    obs = rng.normal(size=(steps + 1, NUM_ENVS, 4)).astype(np.float32)  # obs[steps]: after the last step
    actions = rng.integers(0, 2, size=(steps, NUM_ENVS))
    rewards = rng.normal(1.0, 1.0, size=(steps, NUM_ENVS)).astype(np.float32)
    terminated = (rng.random((steps, NUM_ENVS)) < 0.05).astype(np.float32)
    terminated[-1, :2] = 1.0  # the last step ends some episodes: SB3 reads it from compute_returns's dones

    agent.observations[...] = obs[:-1]
    agent.actions.copy_(torch.from_numpy(actions))
    agent.rewards[...] = rewards
    agent.terminated[...] = terminated
    agent.dones[...] = terminated
    agent.real[...] = True
    agent.env_steps = steps * NUM_ENVS  # as if the rollout had been collected: the schedules' progress
    # Our minibatch order: the permutations learn() draws from agent.rng, one per epoch; a single minibatch is
    # not shuffled (SB3 shuffles it: the same loss, summed in another order).
    replica = torch.Generator().manual_seed(0)
    replica.set_state(agent.rng.get_state())
    n = steps * NUM_ENVS
    orders = [torch.arange(n) if batch_size >= n else torch.randperm(n, generator=replica)
              for _ in range(PPO_ZOO["n_epochs"])]
    agent.learn(obs[-1])

    buffer = model.rollout_buffer
    buffer.reset()
    for name in ("observations", "rewards", "episode_starts", "values", "log_probs", "advantages"):  # float32
        setattr(buffer, name, getattr(buffer, name).astype(np.float64))
    episode_starts = np.concatenate([np.zeros((1, NUM_ENVS), np.float32), terminated[:-1]])
    with torch.no_grad():
        for t in range(steps):
            values, log_prob, _ = model.policy.evaluate_actions(torch.from_numpy(obs[t]).double(),
                                                                torch.from_numpy(actions[t]))
            buffer.add(obs[t], actions[t], rewards[t], episode_starts[t], values, log_prob)
        last_values = model.policy.predict_values(torch.from_numpy(obs[-1]).double())
    buffer.compute_returns_and_advantage(last_values, dones=terminated[-1])
    feed_minibatch_order(buffer, orders, steps, NUM_ENVS)
    model._current_progress_remaining = 1.0 - steps * NUM_ENVS / ANNEAL_STEPS
    model.train()
    return pairs, initial


def feed_minibatch_order(buffer, orders: list[torch.Tensor], steps: int, num_envs: int) -> None:
    """SB3's ``rollout_buffer.get`` yields the minibatches of our permutations, one per epoch.

    Our flat index is ``t * num_envs + env``; SB3 flattens env-major, ``env * steps + t``.
    """
    get, epochs = buffer.get, iter(orders)

    def ours_order(batch_size: int) -> Iterator:
        if not buffer.generator_ready:
            next(get(batch_size))  # SB3 flattens its arrays on the first call
        order = next(epochs).numpy()
        sb3_index = (order % num_envs) * steps + order // num_envs
        for start in range(0, len(order), batch_size):
            yield buffer._get_samples(sb3_index[start:start + batch_size])

    buffer.get = ours_order


def test_one_ppo_update_gives_stable_baselines3s_weights():
    """One PPO update (zoo CartPole settings: 20 epochs over one 256-step minibatch, linear learning rate and clip
    range, terminations inside the rollout and at its end) leaves SB3's weights: the same GAE, advantage
    normalisation, clipped loss, value loss, gradient clipping, Adam and schedules."""
    pairs, initial = ppo_update_pairs(batch_size=256)
    assert_same_weights(pairs, initial)


def test_ppo_update_over_several_minibatches_gives_stable_baselines3s_weights():
    """With four minibatches per epoch (SB3 given our shuffles) the update still equals SB3's: per-minibatch
    advantage normalisation and 80 Adam steps."""
    pairs, initial = ppo_update_pairs(batch_size=64)
    assert_same_weights(pairs, initial)


# ---------------------------------------------------------------------------------------------- DQN
DQN_ZOO = {"learning_rate": 2.3e-3, "batch_size": 64, "gamma": 0.99, "net_arch": [256, 256]}
GRADIENT_STEPS = 128


def test_128_dqn_gradient_steps_give_stable_baselines3s_weights():
    """128 DQN gradient steps (zoo CartPole settings) on the same minibatches leave SB3's weights: the same TD
    target from the fixed target network, Huber loss, gradient clipping (norm 10) and Adam."""
    spaces = gym.make("CartPole-v1")
    agent = DQN(spaces.observation_space, spaces.action_space, buffer_size=10_000,
                **{**DQN_ZOO, "net_arch": tuple(DQN_ZOO["net_arch"])})
    agent.reset(SEED)
    agent.double()
    model = sb3_model(sb3.DQN, "CartPole-v1", buffer_size=10_000, learning_rate=DQN_ZOO["learning_rate"],
                      batch_size=DQN_ZOO["batch_size"], gamma=DQN_ZOO["gamma"],
                      policy_kwargs={"net_arch": DQN_ZOO["net_arch"]})
    pairs = (layer_pairs(linears(agent.q_net), linears(model.q_net), "q_net")
             + layer_pairs(linears(agent.q_target), linears(model.q_net_target), "q_target"))
    copy_ours_into_sb3(pairs)
    initial = snapshot(pairs)

    rng = np.random.default_rng(SEED)
    fill_replay_buffer(agent, 1000, 4, rng.integers(0, 2, size=1000), rng)
    batches = record_batches(agent)
    agent.learn(GRADIENT_STEPS)
    replay_to_sb3(model, batches)
    model.train(gradient_steps=GRADIENT_STEPS, batch_size=DQN_ZOO["batch_size"])

    assert len(batches) == GRADIENT_STEPS
    online = [pair for pair in pairs if pair[0].startswith("q_net")]
    assert_same_weights(online, initial)
    for name, ours, theirs in pairs[len(online):]:  # the target network does not move during a learning phase
        assert torch.equal(ours, initial[name]) and torch.equal(theirs, initial[name]), name


# ---------------------------------------------------------------------------------------------- SAC
SAC_ZOO = {"learning_rate": 1e-3}
SAC_STEPS = 32


def record_noise(agent: SAC) -> list[torch.Tensor]:
    """Wrap ``agent._noise`` (the standard normal noise of each reparameterised sample) to keep what it returns."""
    assert callable(getattr(type(agent), "_noise", None)), "SAC no longer draws its noise through _noise"
    noises, draw = [], agent._noise

    def recording(like: torch.Tensor) -> torch.Tensor:
        noise = draw(like)
        noises.append(noise)
        return noise

    agent._noise = recording
    return noises


def noise_to_sb3(model, noises: list[torch.Tensor]) -> None:
    """SB3's actor samples ``tanh(mean + std * noise)`` with our noise, in order (as ``Normal.rsample`` would with
    its own: ``loc + eps * scale``)."""
    dist, queue = model.actor.action_dist, iter(noises)

    def sample() -> torch.Tensor:
        normal = dist.distribution
        dist.gaussian_actions = normal.loc + next(queue) * normal.scale
        return torch.tanh(dist.gaussian_actions)

    dist.sample = sample


def sac_pairs(agent: SAC, model) -> list[tuple]:
    """Our actor (one head of means and log-stds), twin critics, target critics and log α against SB3's."""
    d, sb3_actor = agent.action_dim, model.actor
    head = agent.actor.head
    pairs = layer_pairs(linears(agent.actor.trunk), linears(sb3_actor.latent_pi), "actor.trunk")
    pairs += [("actor.mean.weight", head.weight[:d], sb3_actor.mu.weight),
              ("actor.mean.bias", head.bias[:d], sb3_actor.mu.bias),
              ("actor.log_std.weight", head.weight[d:], sb3_actor.log_std.weight),
              ("actor.log_std.bias", head.bias[d:], sb3_actor.log_std.bias)]
    for ours, theirs, name in ((agent.critic, model.critic, "critic"),
                               (agent.critic_target, model.critic_target, "critic_target")):
        for k, (q, sb3_q) in enumerate(zip((ours.q1, ours.q2), theirs.q_networks)):
            pairs += layer_pairs(linears(q), linears(sb3_q), f"{name}.q{k + 1}")
    return pairs + [("log_alpha", agent.log_alpha, model.log_ent_coef)]


def test_sac_gradient_steps_give_stable_baselines3s_weights_but_for_its_log_prob_epsilon():
    """32 SAC gradient steps (zoo Pendulum settings, SAC's defaults) on the same minibatches and the same
    reparameterisation noise leave SB3's weights: the same α update, soft TD target from the twin target critics,
    critic and actor losses, Polyak averaging and Adam.

    One real difference is set aside: SB3's tanh correction is ``log(1 - tanh(u)² + 1e-6)``, ours the exact
    ``log(1 - tanh(u)²)`` (written ``2 (log 2 - u - softplus(-2u))``); with SB3's 1e-6 the weights part by ~1e-3
    after 32 steps, so SB3's ε is set to 0 here. (In float32, even with ε = 0, the two log-prob formulas round
    differently and Adam's first steps, ``g / (|g| + ε)``, magnify that to ~5e-6 on weights whose gradient is
    near 0.)
    """
    spaces = gym.make("Pendulum-v1")
    agent = SAC(spaces.observation_space, spaces.action_space, buffer_size=10_000, **SAC_ZOO)
    agent.reset(SEED)
    agent.double()
    model = sb3_model(sb3.SAC, "Pendulum-v1", buffer_size=10_000, **SAC_ZOO)
    model.log_ent_coef.data = model.log_ent_coef.data.double()  # a plain tensor, not part of the policy
    model.actor.action_dist.epsilon = 0.0
    pairs = sac_pairs(agent, model)
    copy_ours_into_sb3(pairs)
    initial = snapshot(pairs)

    rng = np.random.default_rng(SEED)
    fill_replay_buffer(agent, 1000, 3, rng.uniform(-1, 1, size=(1000, 1)).astype(np.float32), rng)
    batches, noises = record_batches(agent), record_noise(agent)
    agent.learn(SAC_STEPS)
    replay_to_sb3(model, batches)
    noise_to_sb3(model, noises)
    model.train(gradient_steps=SAC_STEPS, batch_size=agent.params.batch_size)

    assert len(batches) == SAC_STEPS and len(noises) == 2 * SAC_STEPS
    assert batches[0].observations.dtype == noises[0].dtype == pairs[0][2].dtype == torch.float64
    assert_same_weights(pairs, initial)
