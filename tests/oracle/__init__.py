"""An independent, deliberately slow oracle for deadlines and KPIs (issue 16): it reads only the event log and
the working calendar, minute by minute, and shares no code with ``backend/services`` (only the holiday data of
the ``holidays`` package, which the city calendar also uses)."""
