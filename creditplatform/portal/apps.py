from django.apps import AppConfig


class PortalConfig(AppConfig):
    """The cardholder web portal: Django templates over the same services and selectors as the
    API (``creditplatform/portal/``, templates in ``templates/portal/``)."""

    name = "creditplatform.portal"
    label = "portal"
    verbose_name = "Cardholder portal"
    default_auto_field = "django.db.models.BigAutoField"
