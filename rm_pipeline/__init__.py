"""rm_pipeline: reward-model training, scoring, evaluation, and the MLflow registry.

Training and scoring (import the modules; nothing heavy loads on `import rm_pipeline`):
`config.TrainConfig`, `train.train_reward_model`, `scoring.RewardScorer`,
`evaluate.evaluate_pairs`, `rendering.render_input`; the metrics hook is
`trainer.MetricsCallback`.
"""
