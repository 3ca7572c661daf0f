"""A tiny helper plugin: formats a Slack message for failed tasks."""


def failure_message(dag_id: str, task_id: str) -> str:
    return f":red_circle: {dag_id}.{task_id} failed"
