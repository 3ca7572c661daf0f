"""Exports the marketing contacts to Brevo every hour."""
from datetime import datetime

from airflow import DAG
from airflow.operators.python import PythonOperator


def export_contacts() -> None:
    from jobs.etl_jobs.external.brevo.main import export

    export(limit=1000)


with DAG(
    dag_id="brevo_export",
    start_date=datetime(2024, 1, 1),
    schedule="@hourly",
    catchup=False,
    tags=["etl"],
) as dag:
    PythonOperator(task_id="export_contacts", python_callable=export_contacts)
