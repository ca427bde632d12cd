import json, os, sys
os.environ.setdefault("MUJOCO_GL", "egl")
sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parents[4]))  # the repository
import experiments.backflip as B
B.PPO_KWARGS = B.PPO_KWARGS | json.loads(os.environ["PPO_EXTRA"])
B.PPO_KWARGS["policy_kwargs"] = B.PPO_KWARGS["policy_kwargs"] | json.loads(os.environ.get("POLICY_EXTRA", "{}"))
print(B.PPO_KWARGS, flush=True)
from prefrl import cli
cli.main_guard(B.main)()
