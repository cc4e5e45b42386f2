"""Which nodes make up the cluster, and where each user's sessions are: the admin view."""
