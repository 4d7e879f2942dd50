"""A multi_run that tests start, interrupt and resume in child processes.

    python resume_script.py EXP_DIR [--resume] [--dqn]

``--dqn`` trains the built-in DQN (a Lightning-native agent with a replay buffer) instead of the numpy
``RecordingAgent``.

Prints "started" once the first metrics chunk is on disk, so a test knows the run is under way.
"""

import os
import sys
import threading
import time

import gymnasium as gym
import torch

from rl_lightning import EmptyCallBack, OnlineTrainer
from rl_lightning.testing import RecordingAgent

TOTAL_STEPS = 24_000
DQN_STEPS = 8_000


def make_env():
    return gym.vector.SyncVectorEnv([lambda: gym.make("CartPole-v1") for _ in range(4)])


def _announce_start(exp_dir):
    path = os.path.join(exp_dir, "metrics_run1.pkl")
    while not os.path.exists(path):
        time.sleep(0.01)
    print("started", flush=True)


def make_dqn(env):
    from rl_lightning.agents import DQN

    return DQN.for_env(env, learning_starts=200, train_freq=16, gradient_steps=4, batch_size=32, buffer_size=5_000,
                       target_update_interval=50, net_arch=(32, 32))


def main(exp_dir, resume, dqn):
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    make_agent = make_dqn if dqn else (lambda env: RecordingAgent())
    trainer = OnlineTrainer(make_env, make_agent, exp_dir=exp_dir, progress=False,
                            segment_steps=None if dqn else 32)
    trainer.call_back = EmptyCallBack()
    if not resume:
        threading.Thread(target=_announce_start, args=(exp_dir,), daemon=True).start()
    trainer.multi_run(2, total_steps=DQN_STEPS if dqn else TOTAL_STEPS, seed_offset=3, checkpoint_freq=0, metrics_dump_every=5,
                      keep_metrics_in_memory=False, resume=resume)
    print("finished", flush=True)


if __name__ == "__main__":
    main(sys.argv[1], "--resume" in sys.argv, "--dqn" in sys.argv)
