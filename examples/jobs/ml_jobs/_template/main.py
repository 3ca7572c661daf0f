"""Template for new ML jobs: copied by hand, ignored by the matrix (`jobs.ignore`)."""
