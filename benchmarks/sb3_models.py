"""Stable-Baselines3's algorithm for one of our agent configs, with the same hyperparameters: what the benchmarks
run beside ours (``agents.py``, ``learning.py --sb3``). Stable-Baselines3 is the ``bench`` extra."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from rl_lightning.agents import A2C, DQN, PPO, SAC, TD3, AgentConfig

#: The agents with a Stable-Baselines3 counterpart here.
SB3_AGENTS = ("PPO", "A2C", "DQN", "SAC", "TD3")


def sb3_model(config: AgentConfig, env: Any, seed: int) -> Any:
    """Stable-Baselines3's PPO, A2C, DQN, SAC or TD3 with ``config``'s hyperparameters on ``env``, on the CPU."""
    import stable_baselines3 as sb3
    from stable_baselines3.common.noise import NormalActionNoise

    p = config.build_params()
    name = next((cls.__name__ for cls in (PPO, A2C, DQN, SAC, TD3) if issubclass(config.agent_class, cls)),
                config.agent_class.__name__)
    activations = {"tanh": torch.nn.Tanh, "relu": torch.nn.ReLU}
    if name == "PPO":
        lr_linear, clip_linear = p.learning_rate_schedule == "linear", p.clip_range_schedule == "linear"
        return sb3.PPO("MlpPolicy", env, n_steps=p.n_steps, batch_size=p.batch_size, n_epochs=p.n_epochs,
                       gamma=p.gamma, gae_lambda=p.gae_lambda, ent_coef=p.ent_coef, vf_coef=p.vf_coef,
                       max_grad_norm=p.max_grad_norm, normalize_advantage=p.normalize_advantage,
                       learning_rate=lambda f: p.learning_rate * (f if lr_linear else 1.0),
                       clip_range=lambda f: p.clip_range * (f if clip_linear else 1.0),
                       policy_kwargs={"net_arch": {"pi": list(p.net_arch), "vf": list(p.net_arch)},
                                      "activation_fn": activations[p.activation], "ortho_init": p.ortho_init,
                                      "optimizer_kwargs": {"eps": p.adam_eps}},
                       seed=seed, device="cpu")
    if name == "DQN":
        return sb3.DQN("MlpPolicy", env, learning_rate=p.learning_rate, buffer_size=p.buffer_size,
                       learning_starts=p.learning_starts, batch_size=p.batch_size, tau=p.tau, gamma=p.gamma,
                       train_freq=p.train_freq, gradient_steps=p.gradient_steps,
                       target_update_interval=p.target_update_interval, exploration_fraction=p.exploration_fraction,
                       exploration_initial_eps=p.exploration_initial_eps,
                       exploration_final_eps=p.exploration_final_eps, max_grad_norm=p.max_grad_norm,
                       policy_kwargs={"net_arch": list(p.net_arch)}, seed=seed, device="cpu")
    if name == "SAC":
        return sb3.SAC("MlpPolicy", env, learning_rate=p.learning_rate, buffer_size=p.buffer_size,
                       learning_starts=p.learning_starts, batch_size=p.batch_size, tau=p.tau, gamma=p.gamma,
                       train_freq=p.train_freq, gradient_steps=p.gradient_steps,
                       target_update_interval=p.target_update_interval,
                       ent_coef="auto" if p.ent_coef is None else p.ent_coef,
                       target_entropy="auto" if p.target_entropy is None else p.target_entropy,
                       policy_kwargs={"net_arch": list(p.net_arch)}, seed=seed, device="cpu")
    if name == "A2C":
        def learning_rate(progress_remaining: float) -> float:  # SB3's schedule: 1 at the start, 0 at the end
            linear = p.learning_rate_schedule == "linear"
            return p.learning_rate * (progress_remaining if linear else 1.0)

        policy_kwargs = dict(net_arch=dict(pi=list(p.net_arch), vf=list(p.net_arch)),
                             activation_fn=activations[p.activation], ortho_init=p.ortho_init,
                             log_std_init=p.log_std_init)
        return sb3.A2C("MlpPolicy", env, learning_rate=learning_rate, n_steps=p.n_steps, gamma=p.gamma,
                       gae_lambda=p.gae_lambda, ent_coef=p.ent_coef, vf_coef=p.vf_coef,
                       max_grad_norm=p.max_grad_norm, rms_prop_eps=p.rms_prop_eps,
                       use_rms_prop=p.use_rms_prop, normalize_advantage=p.normalize_advantage,
                       policy_kwargs=policy_kwargs, seed=seed, device="cpu")
    if name == "TD3":
        action_dim = int(np.prod(env.action_space.shape))
        noise = NormalActionNoise(np.zeros(action_dim), p.action_noise_std * np.ones(action_dim)) \
            if p.action_noise_std > 0 else None
        return sb3.TD3("MlpPolicy", env, learning_rate=p.learning_rate, buffer_size=p.buffer_size,
                       learning_starts=p.learning_starts, batch_size=p.batch_size, tau=p.tau,
                       gamma=p.gamma, train_freq=p.train_freq, gradient_steps=p.gradient_steps,
                       action_noise=noise, policy_delay=p.policy_delay,
                       target_policy_noise=p.target_policy_noise, target_noise_clip=p.target_noise_clip,
                       policy_kwargs=dict(net_arch=list(p.net_arch)), seed=seed, device="cpu")
    raise SystemExit(f"no Stable-Baselines3 counterpart for agent {name!r} here; these have one: "
                     f"{', '.join(SB3_AGENTS)}.")
