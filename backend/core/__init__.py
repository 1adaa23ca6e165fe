"""Pieces every domain uses: errors and their JSON form, pagination."""
