"""Learning to count: tasks, the CNN, QAT training, int8 export, counting, metrics, evaluation."""
