"""``LightningAgent``: the plumbing every built-in agent shares, so that each agent's file holds its algorithm.

A built-in agent is two things at once:

- a **seed-protocol agent** (``act``/``update``/``reset``/``set_num_env``/``save``/``load``/``train``/``eval``)
  that a bare hand-written loop, or any trainer speaking the protocol, drives unchanged;
- a **Lightning-native agent**: a ``torch.nn.Module`` that :class:`~rl_lightning.module.AgentModule`
  registers as a submodule (precision, DDP and checkpoints see its parameters), whose optimizers become the
  module's (``configure_optimizers``) and which AgentModule attaches at train start (``attach_module``).

How it learns depends on that: once attached to a module whose trainer is fitting, every backward pass goes
through ``module.manual_backward``, gradient clipping through ``module.clip_gradients`` and every optimizer
step through Lightning's ``LightningOptimizer`` (so mixed precision and DDP's gradient all-reduce apply).
Otherwise the agent calls ``loss.backward()``, ``clip_grad_norm_`` and ``optimizer.step()`` itself. The math
is the same; a test checks that both paths give identical runs. Acting never goes through Lightning: it runs
the plain submodules under ``torch.inference_mode``.

Reset steps: built-in agents assume gymnasium's next-step autoreset (``AutoresetMode.NEXT_STEP``, see
:mod:`rl_lightning.data.envs`). The vector step after a sub-env's episode ended is that sub-env's *reset
step*: its action was ignored, it paid reward 0 and its observation is the new episode's first one. It is no
transition of the MDP; :meth:`LightningAgent._real_transitions` tells the agents which sub-envs to drop.

Randomness: every draw (weight initialisation, exploration, sampling, minibatches) comes from generators
seeded by ``reset(seed)``, never from torch's global RNG.
"""

from __future__ import annotations

import copy
from typing import Any, ClassVar, Mapping, Optional, Union

import gymnasium as gym
import numpy as np
import torch
from gymnasium.vector import AutoresetMode
from torch import nn

from rl_lightning.agents.files import decode_space, encode_space, load_agent_file
from rl_lightning.agents.hparams import Params
from rl_lightning.data.envs import autoreset_mode
from rl_lightning.module import DEFAULT_SEGMENT_STEPS
from rl_lightning.validation import check_int

__all__ = ["LightningAgent"]


class LightningAgent(nn.Module):
    """Base of the built-in learning agents (:class:`~rl_lightning.agents.PPO`, ``DQN``, ``SAC``).

    Subclasses set :attr:`params_class`, build their networks and optimizers in ``__init__`` (then call
    ``self.reset(0)``), and implement :meth:`reset_parameters`, ``act`` and ``update``.

    Args:
        observation_space: one sub-env's observation space (``env.single_observation_space``).
        action_space: one sub-env's action space (``env.single_action_space``).
        params: the hyperparameters, a :attr:`params_class` instance; ``None`` builds one from ``hp``.
        num_envs: number of sub-envs the agent acts for (``set_num_env`` changes it).
        **hp: hyperparameters by name, overriding those of ``params``.

    Attributes:
        params: the hyperparameters (a frozen dataclass).
        env_steps: env steps seen by ``update`` since ``reset``, summed over sub-envs, reset steps included
            (the same count as the run's ``total_steps`` budget).
        segment_steps: vector steps per Lightning ``training_step`` that AgentModule uses by default.
    """

    params_class: ClassVar[type[Params]] = Params
    #: Whether every gradient step happens at a vector-step count fixed in advance (every ``n`` vector steps), the
    #: same on every DDP rank; DDP refuses agents that do not declare it, since ranks whose gradient steps differ
    #: wait on each other's all-reduce forever. An agent that learns when its own episodes end must leave it False.
    lockstep_updates: ClassVar[bool] = False
    #: Hyperparameters that shape the networks or buffers, so ``set_hp`` cannot change them.
    structural_params: ClassVar[tuple[str, ...]] = ()
    segment_steps: int = DEFAULT_SEGMENT_STEPS

    def __init__(self, observation_space: gym.Space, action_space: gym.Space, params: Optional[Params] = None,
                 num_envs: int = 1, **hp: Any):
        super().__init__()
        if params is not None and not isinstance(params, self.params_class):
            raise TypeError(f"params must be a {self.params_class.__name__}, got {type(params).__name__}.")
        self.params = params.replace(**hp) if params is not None else self.params_class.from_dict(hp)
        self.check_spaces(observation_space, action_space)
        check_int("num_envs", num_envs, minimum=1)
        self.observation_space = observation_space
        self.action_space = action_space
        self.num_envs = num_envs
        self.seed = 0
        self.env_steps = 0
        self.optimizer_list: list[torch.optim.Optimizer] = []
        self._device = torch.device("cpu")
        self._dtype = torch.float32
        self._rng = torch.Generator()
        self._ended = np.zeros(num_envs, dtype=bool)
        object.__setattr__(self, "_attached", None)  # the AgentModule; kept out of nn.Module's registry (a cycle)
        self._wrapped_optimizers: dict[int, Any] = {}

    # ------------------------------------------------------------------ construction helpers
    @classmethod
    def check_spaces(cls, observation_space: gym.Space, action_space: gym.Space) -> None:
        """Raise ``TypeError`` when the agent cannot handle these spaces (subclasses narrow it)."""
        if not isinstance(observation_space, gym.spaces.Box):
            raise TypeError(f"{cls.__name__} needs a Box observation space, got {observation_space}; wrap the env "
                            "with gymnasium.wrappers.FlattenObservation (or a one-hot wrapper for Discrete).")

    @classmethod
    def for_env(cls, env: gym.vector.VectorEnv, **hp: Any) -> "LightningAgent":
        """An agent for ``env`` (its single spaces and ``num_envs``): ``OnlineTrainer(make_env, PPO.for_env)``.

        Raises:
            ValueError: the env does not use next-step autoreset (see the module docstring).
        """
        mode = autoreset_mode(env)
        if mode is not AutoresetMode.NEXT_STEP:
            raise ValueError(
                f"{cls.__name__} needs an env with autoreset_mode=AutoresetMode.NEXT_STEP, got {mode!r}: under "
                "same-step autoreset the final observation of a truncated episode only reaches infos, which "
                "update() does not receive. Build the env with gymnasium's default autoreset mode."
            )
        return cls(env.single_observation_space, env.single_action_space, num_envs=env.num_envs, **hp)

    def __call__(self, env: Any = None) -> "LightningAgent":
        """An agent instance is its own factory: ``agent(env)`` returns ``agent``.

        OnlineTrainer and AgentModule call any callable ``agent`` argument with the env; ``nn.Module`` makes
        every instance callable, so this keeps "pass an instance, the instance is reused" working. The
        networks are called through their own submodules, never through the agent.
        """
        if env is not None and getattr(env, "single_action_space", self.action_space) != self.action_space:
            raise ValueError(f"{type(self).__name__} acts in {self.action_space}, but the env's action space is "
                             f"{env.single_action_space}; build the agent for this env with for_env.")
        return self

    # ------------------------------------------------------------------ the seed protocol
    def reset(self, seed: int) -> None:
        """Re-initialise weights, optimizer state and counters from ``seed`` (at the start of every run).

        Everything is reset in place: the optimizer objects that Lightning wrapped stay the ones in use.
        """
        check_int("seed", seed, minimum=0)
        self.seed = seed
        init_generator = torch.Generator().manual_seed(seed)
        self.reset_parameters(init_generator)
        for optimizer in self.optimizer_list:
            optimizer.state.clear()
        self.zero_grad(set_to_none=True)
        sampling_seed = int(torch.randint(2**62, (1,), generator=init_generator))
        self._rng = torch.Generator(device=self._device).manual_seed(sampling_seed)
        self.env_steps = 0
        self._ended = np.zeros(self.num_envs, dtype=bool)

    def reset_parameters(self, generator: torch.Generator) -> None:
        """Re-initialise every network (and copy targets) from ``generator``."""
        raise NotImplementedError

    def set_num_env(self, num_envs: int) -> None:
        """Act for ``num_envs`` sub-envs from now on (forgets which sub-envs just ended an episode)."""
        check_int("num_envs", num_envs, minimum=1)
        self.num_envs = num_envs
        self._ended = np.zeros(num_envs, dtype=bool)

    def set_hp(self, hp: Union[Mapping[str, Any], Params]) -> None:
        """Change hyperparameters before a run (``tuning_hp``); they take effect at the next ``reset``.

        Raises:
            ValueError: an unknown key, a value out of range, or a structural hyperparameter
                (:attr:`structural_params`), which needs a new agent.
        """
        changes = hp.to_dict() if isinstance(hp, Params) else dict(hp)
        params = self.params.replace(**changes)
        fixed = [name for name in self.structural_params if getattr(params, name) != getattr(self.params, name)]
        if fixed:
            raise ValueError(f"set_hp cannot change {', '.join(fixed)} of an existing {type(self).__name__} (they "
                             "shape its networks or buffers); build a new agent with these values instead.")
        self.params = params

    # ------------------------------------------------------------------ learning, with or without Lightning
    def configure_optimizers(self) -> list:
        """The agent's optimizers, used by AgentModule as the LightningModule's own."""
        return list(self.optimizer_list)

    def attach_module(self, module: Any) -> None:
        """Learn through ``module`` (a LightningModule being fitted): backward, clipping and steps go via Lightning."""
        object.__setattr__(self, "_attached", module)
        wrapped = module.optimizers()
        wrapped = wrapped if isinstance(wrapped, list) else [wrapped]
        if len(wrapped) != len(self.optimizer_list):
            raise RuntimeError(f"{type(module).__name__} has {len(wrapped)} optimizer(s) but {type(self).__name__} "
                               f"has {len(self.optimizer_list)}: use the agent's configure_optimizers().")
        self._wrapped_optimizers = {id(opt): w for opt, w in zip(self.optimizer_list, wrapped, strict=True)}

    def detach_module(self) -> None:
        """Learn on its own again (``loss.backward()`` and the agent's optimizer steps)."""
        object.__setattr__(self, "_attached", None)
        self._wrapped_optimizers = {}

    def _lightning_module(self) -> Optional[Any]:
        """The attached module while its trainer is fitting, else ``None`` (a bare loop after a fit learns alone)."""
        module = self._attached
        if module is None or module._trainer is None or not module._trainer.training:
            return None
        return module

    def _backward(self, loss: torch.Tensor) -> None:
        module = self._lightning_module()
        if module is None:
            loss.backward()
        else:
            module.manual_backward(loss)

    def _clip_grad_norm(self, optimizer: torch.optim.Optimizer, max_norm: Optional[float]) -> None:
        if max_norm is None:
            return
        module = self._lightning_module()
        if module is not None and not getattr(optimizer, "_step_supports_amp_scaling", False):
            module.clip_gradients(optimizer, gradient_clip_val=max_norm, gradient_clip_algorithm="norm")
            return
        if module is not None:
            # A fused optimizer unscales inside its own step, so Lightning's mixed precision refuses to clip its
            # gradients. Unscale them first where a grad scaler is in use (fp16); the scaler's step then skips
            # its own unscaling. Without a scaler (fp32, bf16) the gradients are true ones already.
            scaler = getattr(module.trainer.precision_plugin, "scaler", None)
            if scaler is not None:
                scaler.unscale_(optimizer)
        nn.utils.clip_grad_norm_([p for g in optimizer.param_groups for p in g["params"]], max_norm)

    def _optimizer_step(self, optimizer: torch.optim.Optimizer) -> None:
        module = self._lightning_module()
        if module is None:
            optimizer.step()
        else:
            self._wrapped_optimizers[id(optimizer)].step()

    def gradient_step(self, optimizer: torch.optim.Optimizer, loss: torch.Tensor,
                      max_grad_norm: Optional[float] = None) -> None:
        """One gradient step: ``zero_grad`` → backward → clipping of the gradients' total norm to ``max_grad_norm``
        (``None``: no clipping) → ``optimizer.step()``. While a Trainer fits the agent, each part goes through
        Lightning (``manual_backward``, ``clip_gradients``, the wrapped optimizer), so precision and DDP apply;
        this is where an agent clips, since ``Trainer(gradient_clip_val=...)`` applies only to automatic
        optimization."""
        optimizer.zero_grad(set_to_none=True)
        self._backward(loss)
        self._clip_grad_norm(optimizer, max_grad_norm)
        self._optimizer_step(optimizer)

    # ------------------------------------------------------------------ helpers for act/update
    @property
    def device(self) -> torch.device:
        """Where the parameters live (AgentModule's trainer moves them)."""
        return self._device

    @property
    def dtype(self) -> torch.dtype:
        """The parameters' floating-point type (``torch.float64`` under Lightning's ``precision="64-true"``)."""
        return self._dtype

    def _apply(self, fn: Any, recurse: bool = True) -> "LightningAgent":
        # Lightning moves and casts the agent with .to(); acting and learning follow its parameters.
        super()._apply(fn, recurse)
        first = next(self.parameters(), None)
        if first is not None:
            self._dtype = first.dtype
            if first.device != self._device:
                self._device = first.device
                # A generator cannot move between devices: a fresh one on the new device, from the run's seed.
                self._rng = torch.Generator(device=self._device).manual_seed(self.seed)
        return self

    def _obs_tensor(self, observation: Any, check_batch: bool = False) -> torch.Tensor:
        """The batched observation as a ``(batch, obs_dim)`` tensor of the parameters' type and device (zero-copy for
        float32 numpy on CPU).

        ``check_batch``: the batch must hold one observation per sub-env (what training records).
        """
        obs = torch.as_tensor(observation, dtype=self._dtype, device=self._device)
        if check_batch and obs.shape[0] != self.num_envs:
            raise ValueError(f"{type(self).__name__}.act got {obs.shape[0]} observations but acts for "
                             f"{self.num_envs} sub-envs in training mode; call set_num_env({obs.shape[0]}) first, "
                             "or eval() to act greedily on any batch.")
        return obs.reshape(obs.shape[0], -1)

    def _schedule_progress(self) -> float:
        """Fraction of the schedules' horizon spent: env steps over ``anneal_steps``, or over the run's
        ``total_steps``. Both count the env steps of every DDP rank, so this rank's count is scaled by the world size.

        Raises:
            ValueError: no ``anneal_steps`` and no step budget to take it from (a bare loop, or episode mode).
        """
        module = self._attached
        horizon = getattr(self.params, "anneal_steps", None) or getattr(module, "total_steps", 0)
        if not horizon:
            raise ValueError(f"{type(self).__name__}'s schedules need a horizon: set "
                             f"{self.params_class.__name__}.anneal_steps (env steps), or train with a step budget "
                             "(total_steps) through AgentModule / OnlineTrainer.")
        trainer = getattr(module, "_trainer", None)
        return self.env_steps * (trainer.world_size if trainer is not None else 1) / horizon

    def _real_transitions(self, terminated: np.ndarray, truncated: np.ndarray) -> np.ndarray:
        """Per sub-env, whether this step is a real transition (``False``: a reset step, to be dropped).

        Call once per ``update``: it also remembers which sub-envs ended on this step.
        """
        real = ~self._ended
        self._ended = np.logical_or(terminated, truncated)
        return real

    def _whole_learning_phases(self) -> int:
        """Off-policy agents' ``segment_steps``: the multiple of ``params.train_freq`` nearest 128 vector steps."""
        train_freq = self.params.train_freq
        return max(1, round(DEFAULT_SEGMENT_STEPS / train_freq)) * train_freq

    def _store_step(self, next_observation: Any, reward: np.ndarray, terminated: np.ndarray,
                    truncated: np.ndarray) -> None:
        """Off-policy agents: add this step's real transitions to ``self.buffer`` and count the step."""
        real = self._real_transitions(terminated, truncated)
        self.buffer.add(self._last_obs, self._last_actions, reward, np.asarray(next_observation), terminated, real)
        self.env_steps += self.num_envs
        self.vector_steps += 1

    # ------------------------------------------------------------------ Lightning checkpoints
    def get_extra_state(self) -> dict:
        """What a Lightning checkpoint needs beyond the weights to continue a run exactly: counters, the sampling
        generator, which sub-envs just ended, and the subclass's rollout or replay buffer (:meth:`training_state`).

        Tensors and numbers only, so the checkpoint loads with ``weights_only``; arrays are shared, not copied,
        because ``state_dict()`` (which calls this) runs at every best episode.
        """
        return {"seed": self.seed, "env_steps": self.env_steps, "num_envs": self.num_envs,
                "rng": self._rng.get_state(), "ended": torch.from_numpy(self._ended), **self.training_state()}

    def set_extra_state(self, state: dict) -> None:
        self.set_num_env(int(state["num_envs"]))
        self.seed, self.env_steps = int(state["seed"]), int(state["env_steps"])
        self._rng.set_state(state["rng"])
        self._ended = state["ended"].numpy().copy()
        self.load_training_state(state)

    def training_state(self) -> dict:
        """The subclass's state beyond the weights: rollout or replay buffer, its own counters (tensors, numbers)."""
        return {}

    def load_training_state(self, state: dict) -> None:
        """Restore what :meth:`training_state` returned (after ``set_num_env`` allocated the arrays)."""

    # ------------------------------------------------------------------ save / load
    def weights(self) -> dict:
        """Copies of the parameters and buffers, without the training state (what agent files hold)."""
        return {k: v.detach().to("cpu", copy=True) for k, v in self.state_dict().items()
                if not k.endswith("_extra_state")}

    def save(self, file_path: Optional[str] = None) -> dict:
        """A checkpoint dict (class, hyperparameters, spaces, weights, optimizer state, counters).

        With ``file_path`` it is also written to ``f"{file_path}_agent.t"``. Tensors are copies: a dict kept in
        memory (the best-agent snapshot) does not change as training goes on.
        """
        checkpoint = {
            "agent_class": f"{type(self).__module__}.{type(self).__qualname__}",
            "params": self.params.to_dict(),
            "observation_space": encode_space(self.observation_space),
            "action_space": encode_space(self.action_space),
            "num_envs": self.num_envs,
            "seed": self.seed,
            "env_steps": self.env_steps,
            "state_dict": self.weights(),
            "optimizers": [copy.deepcopy(opt.state_dict()) for opt in self.optimizer_list],
        }
        if file_path is not None:
            torch.save(checkpoint, f"{file_path}_agent.t")
        return checkpoint

    @classmethod
    def load(cls, file_path: Optional[str], checkpoint: Optional[dict] = None, *, trust: bool = False
             ) -> "LightningAgent":
        """Restore an agent from a file written by ``save(path)`` (``path + "_agent.t"``) or from its dict.

        The file holds plain data and loads with ``torch.load(weights_only=True)``; a file of an earlier version
        loads without running code too, with a warning (see :mod:`rl_lightning.agents.files`). ``trust=True``
        loads any file with Python's plain unpickler.
        """
        if checkpoint is None:
            checkpoint = load_agent_file(file_path, trust)
        expected = f"{cls.__module__}.{cls.__qualname__}"
        if checkpoint.get("agent_class") != expected:
            raise TypeError(f"{file_path!r} holds a {checkpoint.get('agent_class')!r}, not a {expected!r}; load it "
                            "with that class's load().")
        agent = cls(decode_space(checkpoint["observation_space"]), decode_space(checkpoint["action_space"]),
                    cls.params_class.from_dict(checkpoint["params"]), num_envs=checkpoint["num_envs"])
        missing, unexpected = agent.load_state_dict(checkpoint["state_dict"], strict=False)
        if unexpected or any(not key.endswith("_extra_state") for key in missing):
            raise ValueError(f"{file_path!r} does not match {cls.__name__}'s networks: missing {missing}, "
                             f"unexpected {unexpected}.")
        for optimizer, state in zip(agent.optimizer_list, checkpoint["optimizers"], strict=True):
            optimizer.load_state_dict(state)
        agent.seed, agent.env_steps = checkpoint["seed"], checkpoint["env_steps"]
        return agent

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state["_attached"], state["_wrapped_optimizers"] = None, {}  # the fitting module stays behind
        return state

    def extra_repr(self) -> str:
        return f"num_envs={self.num_envs}, params={self.params}"
