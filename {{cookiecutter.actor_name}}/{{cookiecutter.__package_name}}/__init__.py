"""An Apify Actor that reads a paginated JSON API into its dataset and resumes exactly after migrations."""
