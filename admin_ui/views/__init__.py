"""The admin pages, one module per page; each adds its routes to admin_ui.blueprint.bp."""
