"""``LightningAgent``: the public base of learning agents, so that each agent's file holds only its algorithm.

A learning agent is two things at once:

- a **seed-protocol agent** (``act``/``update``/``reset``/``set_num_env``/``save``/``load``/``train``/``eval``)
  that a bare hand-written loop, or any trainer speaking the protocol, drives unchanged;
- a **Lightning-native agent**: a ``torch.nn.Module`` whose parameters a LightningModule registers (precision, DDP
  and checkpoints see them) and whose optimizers become the module's (:meth:`~LightningAgent.configure_optimizers`).

**What an agent writes** (see ``examples/custom_lightning_agent.py``; :class:`~rl_lightning.agents.OnPolicyAgent`
and :class:`~rl_lightning.agents.OffPolicyAgent` write more of it for their families):

- ``params_class``: a frozen :class:`~rl_lightning.agents.Params` dataclass of its hyperparameters;
- ``__init__``: ``super().__init__(...)``, its networks, its optimizers in ``self.optimizer_list``, ``self.reset(0)``;
- ``reset_parameters(generator)``: every weight drawn from ``generator``;
- ``act(observation, greedy=False)`` and ``update(next_observation, reward, terminated, truncated, call_back)``;
- optionally ``training_state()`` / ``load_training_state(state)`` (buffers and counters beyond the weights), and
  the class attributes ``lockstep_updates`` (DDP), ``structural_params`` and ``segment_steps``.

A class that leaves out ``act``, ``update`` or ``reset_parameters`` is refused when built, naming all of them.

**What it receives**: nothing but its spaces and hyperparameters, and, while a trainer fits it, one
:class:`~rl_lightning.agents.AgentContext` (:meth:`~LightningAgent.attach`): the run's horizon (``total_steps``),
the world size, the device and its optimizers as the trainer wraps them. It imports nothing from the module or the
trainer.

**What the library does for it**: :meth:`~LightningAgent.gradient_step` (backward, clipping, optimizer step, through
Lightning while fitted, by hand otherwise: both give identical runs), :meth:`~LightningAgent.count_step` (the env-step
count and which sub-envs' steps are real transitions), :meth:`~LightningAgent.obs_tensor`,
:meth:`~LightningAgent.schedule_progress` (for linear schedules), :attr:`~LightningAgent.rng` (its seeded
generator), ``set_hp``, ``save``/``load`` and exact Lightning checkpoints (:meth:`~LightningAgent.get_extra_state`).
Acting never goes through Lightning: it runs the plain submodules under ``torch.inference_mode``.

Reset steps: agents assume gymnasium's next-step autoreset (``AutoresetMode.NEXT_STEP``, see
:mod:`rl_lightning.data.envs`). The vector step after a sub-env's episode ended is that sub-env's *reset step*: its
action was ignored, it paid reward 0 and its observation is the new episode's first one. It is no transition of
the MDP; :meth:`LightningAgent.count_step` says which sub-envs' steps to drop.

Randomness: every draw (weight initialisation, exploration, sampling, minibatches) comes from generators seeded by
``reset(seed)`` (``reset_parameters``' argument, then :attr:`~LightningAgent.rng`), never from torch's global RNG.
"""

from __future__ import annotations

import copy
from abc import abstractmethod
from typing import Any, Callable, ClassVar, Mapping, Optional, Union

import gymnasium as gym
import numpy as np
import torch
from gymnasium.vector import AutoresetMode
from torch import nn

from rl_lightning.agents.context import AgentContext
from rl_lightning.agents.files import decode_space, encode_space, load_agent_file
from rl_lightning.agents.hparams import Params
from rl_lightning.agents.registry import missing_agent_methods
from rl_lightning.data.envs import autoreset_mode
from rl_lightning.validation import check_int

__all__ = ["LightningAgent", "SEGMENT_STEPS"]

#: Vector steps per Lightning ``training_step`` of an agent that names no better length (AgentModule's
#: ``DEFAULT_SEGMENT_STEPS``, the same number).
SEGMENT_STEPS = 128


class LightningAgent(nn.Module):
    """Base of the learning agents (:class:`~rl_lightning.agents.PPO`, ``A2C``, ``DQN``, ``SAC``, ``TD3``, yours).

    Args:
        observation_space: one sub-env's observation space (``env.single_observation_space``).
        action_space: one sub-env's action space (``env.single_action_space``).
        params: the hyperparameters, a :attr:`params_class` instance; ``None`` builds one from ``hp``.
        num_envs: number of sub-envs the agent acts for (``set_num_env`` changes it).
        **hp: hyperparameters by name, overriding those of ``params``.

    Attributes:
        params: the hyperparameters (a frozen dataclass).
        env_steps: env steps seen by ``update`` since ``reset``, summed over sub-envs, reset steps included (the
            same count as the run's ``total_steps`` budget); :meth:`count_step` advances it.
        rng: the generator every random draw of acting and learning comes from (seeded by ``reset``).
        optimizer_list: the agent's optimizers (the subclass fills it in ``__init__``).
        segment_steps: vector steps per Lightning ``training_step`` that AgentModule uses by default.

    Raises:
        TypeError: the class does not implement ``act``, ``update`` or ``reset_parameters`` (all missing names are
            listed), or ``params`` is not a :attr:`params_class`.
    """

    params_class: ClassVar[type[Params]] = Params
    #: Whether every gradient step happens at a vector-step count fixed in advance (every ``n`` vector steps), the
    #: same on every DDP rank; DDP refuses agents that do not declare it, since ranks whose gradient steps differ
    #: wait on each other's all-reduce forever. An agent that learns when its own episodes end must leave it False.
    lockstep_updates: ClassVar[bool] = False
    #: Hyperparameters that shape the networks or buffers, so ``set_hp`` cannot change them.
    structural_params: ClassVar[tuple[str, ...]] = ()
    segment_steps: int = SEGMENT_STEPS

    def __init__(self, observation_space: gym.Space, action_space: gym.Space, params: Optional[Params] = None,
                 num_envs: int = 1, **hp: Any):
        missing = missing_agent_methods(type(self))
        if missing:
            raise TypeError(f"{type(self).__name__} does not implement {', '.join(missing)}; every agent derived from "
                            f"{LightningAgent.__name__} must (see the docstring of rl_lightning.agents.base).")
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
        self.rng = torch.Generator()
        self._device = torch.device("cpu")
        self._dtype = torch.float32
        self._ended = np.zeros(num_envs, dtype=bool)
        self._context = AgentContext()
        self._wrapped_optimizers: dict[int, Any] = {}

    # ------------------------------------------------------------------ what a subclass writes
    @abstractmethod
    def reset_parameters(self, generator: torch.Generator) -> None:
        """Re-initialise every network (and copy targets) from ``generator`` (called by ``reset``)."""

    @abstractmethod
    def act(self, observation: Any, greedy: bool = False) -> np.ndarray:
        """One action per sub-env for the batched ``observation``: explore in training mode, act greedily when
        ``greedy`` or in eval mode (and then draw nothing from :attr:`rng`)."""

    @abstractmethod
    def update(self, next_observation: Any, reward: np.ndarray, terminated: np.ndarray, truncated: np.ndarray,
               call_back: Optional[Callable[[dict], None]] = None) -> None:
        """Learn from one vector step (nothing in eval mode); call :meth:`count_step` once, and ``call_back(metrics)``
        with a dict of scalars to log."""

    # ------------------------------------------------------------------ construction helpers
    @classmethod
    def check_spaces(cls, observation_space: gym.Space, action_space: gym.Space) -> None:
        """Raise ``TypeError`` when the agent cannot handle these spaces (subclasses narrow it)."""
        if not isinstance(observation_space, gym.spaces.Box):
            raise TypeError(f"{cls.__name__} needs a Box observation space, got {observation_space}; wrap the env "
                            "with gymnasium.wrappers.FlattenObservation (or a one-hot wrapper for Discrete).")

    @classmethod
    def check_bounded_box_actions(cls, action_space: gym.Space) -> None:
        """For continuous-action agents' :meth:`check_spaces`: raise ``TypeError`` unless ``action_space`` is a Box
        with finite bounds (actions are squashed or clipped into them)."""
        if not isinstance(action_space, gym.spaces.Box) or not (np.isfinite(action_space.low).all()
                                                                and np.isfinite(action_space.high).all()):
            raise TypeError(f"{cls.__name__} needs a bounded Box action space, got {action_space}; use DQN or PPO for "
                            "Discrete actions, or rescale an unbounded Box with gymnasium.wrappers.RescaleAction.")

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
        self.rng = torch.Generator(device=self._device).manual_seed(sampling_seed)
        self.env_steps = 0
        self._ended = np.zeros(self.num_envs, dtype=bool)

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

    # ------------------------------------------------------------------ the run it learns in
    def configure_optimizers(self) -> list:
        """The agent's optimizers, used by AgentModule as the LightningModule's own."""
        return list(self.optimizer_list)

    @property
    def context(self) -> AgentContext:
        """The run the agent learns in (``AgentContext()`` when alone)."""
        return self._context

    def attach(self, context: AgentContext) -> None:
        """Learn in ``context``: while ``context.is_fitting()``, backward passes, clipping and optimizer steps go
        through its callables and wrapped optimizers; schedules read its ``total_steps`` and ``world_size``.

        Raises:
            RuntimeError: ``context.optimizers`` does not match :attr:`optimizer_list` one to one.
        """
        if context.optimizers and len(context.optimizers) != len(self.optimizer_list):
            raise RuntimeError(f"the trainer has {len(context.optimizers)} optimizer(s) but {type(self).__name__} has "
                               f"{len(self.optimizer_list)}: use the agent's configure_optimizers().")
        self._context = context
        pairs = zip(self.optimizer_list, context.optimizers, strict=True) if context.optimizers else ()
        self._wrapped_optimizers = {id(opt): wrapped for opt, wrapped in pairs}

    def detach(self) -> None:
        """Learn alone again (``loss.backward()`` and the agent's own optimizer steps)."""
        self._context = AgentContext()
        self._wrapped_optimizers = {}

    def attach_module(self, module: Any) -> None:
        """:meth:`attach` to a LightningModule being fitted (the context read from its public attributes)."""
        self.attach(AgentContext.from_module(module))

    def detach_module(self) -> None:
        """The same as :meth:`detach`."""
        self.detach()

    def gradient_step(self, optimizer: torch.optim.Optimizer, loss: torch.Tensor,
                      max_grad_norm: Optional[float] = None) -> None:
        """One gradient step: ``zero_grad`` → backward → clipping of the gradients' total norm to ``max_grad_norm``
        (``None``: no clipping) → ``optimizer.step()``. While a Trainer fits the agent, each part goes through
        Lightning (``manual_backward``, ``clip_gradients``, the wrapped optimizer), so precision and DDP apply;
        this is where an agent clips, since ``Trainer(gradient_clip_val=...)`` applies only to automatic
        optimization."""
        context = self._context
        fitting = context.fitting
        optimizer.zero_grad(set_to_none=True)
        if fitting and context.backward is not None:
            context.backward(loss)
        else:
            loss.backward()
        if max_grad_norm is not None:
            if fitting and context.clip_gradients is not None:
                context.clip_gradients(optimizer, max_grad_norm)
            else:
                nn.utils.clip_grad_norm_([p for group in optimizer.param_groups for p in group["params"]],
                                         max_grad_norm)
        wrapped = self._wrapped_optimizers.get(id(optimizer)) if fitting else None
        (wrapped if wrapped is not None else optimizer).step()

    def schedule_progress(self) -> float:
        """Fraction of the schedules' horizon spent: env steps over ``params.anneal_steps`` when the agent has
        one, else over the run's ``total_steps``. Both count the env steps of every DDP rank, so this rank's count
        is scaled by the world size.

        Raises:
            ValueError: no ``anneal_steps`` and no step budget to take it from (a bare loop, or episode mode).
        """
        horizon = getattr(self.params, "anneal_steps", None) or self._context.total_steps
        if not horizon:
            raise ValueError(f"{type(self).__name__}'s schedules need a horizon: set "
                             f"{self.params_class.__name__}.anneal_steps (env steps), or train with a step budget "
                             "(total_steps) through AgentModule / OnlineTrainer.")
        return self.env_steps * self._context.world_size / horizon

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
                self.rng = torch.Generator(device=self._device).manual_seed(self.seed)
        return self

    def obs_tensor(self, observation: Any, check_batch: bool = False) -> torch.Tensor:
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

    def count_step(self, terminated: np.ndarray, truncated: np.ndarray) -> np.ndarray:
        """Count one training vector step (``env_steps += num_envs``) and return, per sub-env, whether its step is a
        real transition (``False``: a reset step, to be dropped). Call it once in every training ``update``."""
        real = self._reset_steps_mask(terminated, truncated)
        # Plain values set through __dict__: nn.Module.__setattr__'s checks cost ~3 µs, paid at every vector step.
        self.__dict__["env_steps"] = self.env_steps + self.num_envs
        return real

    def _reset_steps_mask(self, terminated: np.ndarray, truncated: np.ndarray) -> np.ndarray:
        real = ~self._ended
        self.__dict__["_ended"] = np.logical_or(terminated, truncated)
        return real

    # Earlier names of the helpers above, for agents written against them.
    _obs_tensor = obs_tensor
    _real_transitions = _reset_steps_mask  # without counting the env steps, as it did

    def _schedule_progress(self) -> float:
        return self.schedule_progress()

    @property
    def _rng(self) -> torch.Generator:
        return self.rng

    # ------------------------------------------------------------------ Lightning checkpoints
    def get_extra_state(self) -> dict:
        """What a Lightning checkpoint needs beyond the weights to continue a run exactly: counters, the sampling
        generator, which sub-envs just ended, and the subclass's rollout or replay buffer (:meth:`training_state`).

        Tensors and numbers only, so the checkpoint loads with ``weights_only``; arrays are shared, not copied,
        because ``state_dict()`` (which calls this) runs at every best episode.
        """
        return {"seed": self.seed, "env_steps": self.env_steps, "num_envs": self.num_envs,
                "rng": self.rng.get_state(), "ended": torch.from_numpy(self._ended), **self.training_state()}

    def set_extra_state(self, state: dict) -> None:
        self.set_num_env(int(state["num_envs"]))
        self.seed, self.env_steps = int(state["seed"]), int(state["env_steps"])
        self.rng.set_state(state["rng"])
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
            "optimizers": [_copy_state(opt.state_dict()) for opt in self.optimizer_list],
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
        checkpoint = cls.upgrade_saved(checkpoint)
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

    @classmethod
    def upgrade_saved(cls, saved: dict) -> dict:
        """``saved`` (a dict with ``"state_dict"``, the weights, and ``"optimizers"``, their optimizers' state dicts)
        rewritten from an earlier layout of this class's networks into the current one; as it is by default.
        :meth:`load` and Lightning checkpoints (AgentModule) call it, so files of earlier versions keep loading."""
        return saved

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        # The trainer's callables stay behind: a copy (or a pickled agent) learns alone.
        state["_context"], state["_wrapped_optimizers"] = AgentContext(), {}
        return state

    def __setstate__(self, state: dict) -> None:
        # An agent pickled by an earlier version: its generator was ``_rng``, its fitting module ``_attached``.
        if "_rng" in state:
            state["rng"] = state.pop("_rng")
        state.pop("_attached", None)
        state.setdefault("_context", AgentContext())
        super().__setstate__(state)

    def extra_repr(self) -> str:
        return f"num_envs={self.num_envs}, params={self.params}"


def _copy_state(state: Any) -> Any:
    """A deep copy of an optimizer's ``state_dict``: tensors cloned, containers rebuilt, anything else deep-copied
    (``copy.deepcopy`` of the whole dict takes ten times as long; a best-agent snapshot copies it often)."""
    if isinstance(state, torch.Tensor):
        return state.detach().clone()
    if isinstance(state, dict):
        return {key: _copy_state(value) for key, value in state.items()}
    if isinstance(state, (list, tuple)):
        return type(state)(_copy_state(value) for value in state)
    return copy.deepcopy(state)
