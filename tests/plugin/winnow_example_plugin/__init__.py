"""A winnow plugin for the tests: ``stages`` is registered through the ``winnow.stages`` entry
point when the package is installed; ``extra`` only when a recipe names it (``plugins:``)."""
