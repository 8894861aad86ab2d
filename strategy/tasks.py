"""Celery tasks of the strategy pillar: thin wrappers that load by id and call a service."""

import smtplib

from celery import shared_task

from strategy.emails import mention_emails_send


@shared_task(
    autoretry_for=(smtplib.SMTPException, ConnectionError, TimeoutError),
    retry_backoff=60,
    retry_jitter=True,
    max_retries=5,
)
def send_mention_emails(notification_ids: list[int]) -> int:
    """Email the people a comment mentioned. Idempotent: a redelivered task sends nothing twice.
    Returns the number of emails sent."""
    return mention_emails_send(notification_ids=notification_ids)
