#pragma once

// Adds the columns request (QByteArray), status (int) and code (QString, the expected error.code; empty for
// successful answers) and every row of the hostile-request table to the current QtTest data table.
void addHostileRows();
