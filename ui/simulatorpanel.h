#pragma once

#include <QFrame>
#include <QJsonObject>
#include <QUrlQuery>

class QComboBox;
class QDoubleSpinBox;
class QLabel;
class QLineEdit;
class QPushButton;
class QSpinBox;

namespace vigil {

// The simulator's controls: mode, rate, fault shares, seed, duration, Start/Stop. It only emits
// requests; MainWindow sends them through ApiClient and feeds the answers back (setStatus,
// showFieldError). Start reads "Apply" while the simulator runs, because start on a running
// simulator changes its rate and fault shares live.
class SimulatorPanel final : public QFrame
{
    Q_OBJECT
    Q_DISABLE_COPY_MOVE(SimulatorPanel)
public:
    explicit SimulatorPanel(QWidget *parent = nullptr);

    // The start parameters as the REST API takes them (rate, mode, failure_rate, ... seed, duration).
    QUrlQuery startParameters() const;

    bool isRunning() const { return m_running; }

    QComboBox *modeBox() const { return m_mode; }
    QSpinBox *rateBox() const { return m_rate; }
    QDoubleSpinBox *failureBox() const { return m_failure; }
    QDoubleSpinBox *timeoutBox() const { return m_timeout; }
    QDoubleSpinBox *malformedBox() const { return m_malformed; }
    QLineEdit *seedEdit() const { return m_seed; }
    QSpinBox *durationBox() const { return m_duration; }
    QPushButton *startButton() const { return m_start; }
    QPushButton *stopButton() const { return m_stop; }
    QString errorText() const;

public slots:
    // The "simulator" object of a status answer.
    void setStatus(const QJsonObject &simulator);
    void setConnected(bool connected);
    // A request is on its way: buttons wait for its answer.
    void setBusy(bool busy);
    // A 400 naming a parameter: mark that field and say why under the form.
    void showFieldError(const QString &field, const QString &message);
    void showError(const QString &message);
    void clearErrors();
    void requestStart();
    void requestStop();

signals:
    void startRequested(const QUrlQuery &parameters);
    void stopRequested();
    void runningChanged(bool running);

private:
    void updateButtons();
    void loadConfiguration(const QJsonObject &configuration);
    QWidget *fieldFor(const QString &field) const;

    QComboBox *m_mode = nullptr;
    QSpinBox *m_rate = nullptr;
    QDoubleSpinBox *m_failure = nullptr;
    QDoubleSpinBox *m_timeout = nullptr;
    QDoubleSpinBox *m_malformed = nullptr;
    QLineEdit *m_seed = nullptr;
    QSpinBox *m_duration = nullptr;
    QPushButton *m_start = nullptr;
    QPushButton *m_stop = nullptr;
    QLabel *m_state = nullptr;
    QLabel *m_stateDetail = nullptr;
    QLabel *m_error = nullptr;
    bool m_running = false;
    bool m_connected = false;
    bool m_busy = false;
    bool m_haveStatus = false;
};

} // namespace vigil
