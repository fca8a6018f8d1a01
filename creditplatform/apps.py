"""The admin app config: the platform's admin site (second factor outside the demo)."""

from django.contrib.admin.apps import AdminConfig


class PlatformAdminConfig(AdminConfig):
    default_site = "creditplatform.admin_site.PlatformAdminSite"
