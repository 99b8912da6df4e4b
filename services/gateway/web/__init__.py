"""Static files of the gateway's web page (package data)."""
