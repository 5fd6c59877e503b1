"""phananh: the backend of phản ánh hiện trường (field reports from residents to city units)."""
