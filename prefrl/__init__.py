"""prefrl: deep reinforcement learning from human preferences (Christiano et al. 2017).

Data flow, one module a stage: ``segments`` -> ``queries`` -> teacher -> ``store`` ->
``reward_model`` -> ``reward_wrapper`` -> SB3 agent, driven by ``trainer``.
"""
