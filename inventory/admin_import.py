"""Import and export in the admin (owned by the import/export work): a mixin for PhoneNumberAdmin."""


class NumberImportExportMixin:
    pass
