"""Builds the orders marts every morning: runs the dbt project, then the scoring job."""
from datetime import datetime

from airflow import DAG
from airflow.operators.bash import BashOperator

DBT_DIR = "/home/airflow/gcs/dags/dbt_project"

with DAG(
    dag_id="daily_orders",
    start_date=datetime(2024, 1, 1),
    schedule="0 6 * * *",
    catchup=False,
    tags=["dbt", "orders"],
) as dag:
    dbt_build = BashOperator(task_id="dbt_build", bash_command=f"dbt build --project-dir {DBT_DIR}")
    score = BashOperator(task_id="score_customers", bash_command="python -m jobs.ml_jobs.scoring.main")
    dbt_build >> score
